package runner

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/extract"
)

// A hand-off is what an extraction worker (`ferry extract --hand-off`)
// leaves for the run that merges it (`ferry run --hand-offs`): its landing
// files, and a manifest of everything its extraction would have committed
// (datadir.HandOffs).

// manifestVersion is the manifest format; a merge refuses another.
const manifestVersion = 1

type manifest struct {
	Version  int            `json:"version"`
	RunID    string         `json:"run_id"`
	Pipeline string         `json:"pipeline"`
	At       time.Time      `json:"at"`
	Objects  []handedObject `json:"objects"`
	// SalesforceCalls count against the daily budget.
	SalesforceCalls int `json:"salesforce_calls"`
}

// handedObject is one object's extraction: what ferry.extracts records,
// the landing file (landing-relative, "" when nothing changed), the
// watermark it reached and the deletes it found.
type handedObject struct {
	System    string             `json:"system"`
	Object    string             `json:"object"`
	Mode      string             `json:"mode"`
	Lower     time.Time          `json:"lower"`
	Upper     time.Time          `json:"upper"`
	Rows      int64              `json:"rows"`
	Unchanged int64              `json:"unchanged,omitempty"`
	Requests  int                `json:"requests"`
	File      string             `json:"file,omitempty"`
	Watermark *extract.Watermark `json:"watermark,omitempty"`
	Deletes   *handedDeletes     `json:"deletes,omitempty"`
}

type handedDeletes struct {
	Gone       []handedGone `json:"gone,omitempty"`
	LogCovered time.Time    `json:"log_covered"`
	SweptAt    time.Time    `json:"swept_at"`
}

type handedGone struct {
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
	Into string    `json:"into,omitempty"`
	How  string    `json:"how"`
}

// handOff delivers what this worker extracted, instead of committing it.
func (r *run) handOff(ctx context.Context, dels []objectDeletes) error {
	m := manifest{Version: manifestVersion, RunID: r.id, Pipeline: r.opt.Pipeline.Path, At: r.opt.Now().UTC()}
	if r.sf != nil {
		m.SalesforceCalls = r.sf.Calls()
	}
	searches := map[[2]string]*deleteSearch{}
	for _, d := range dels {
		searches[[2]string{d.system, d.object}] = d.search
	}
	landing := filepath.Join(r.opt.DataDir, "landing")
	var files []string
	for _, h := range r.handed {
		k := [2]string{h.System, h.Object}
		if w, ok := r.wm[k]; ok {
			h.Watermark = &w
		}
		if d := searches[k]; d != nil {
			hd := &handedDeletes{LogCovered: d.logCovered, SweptAt: d.sweptAt}
			for _, g := range d.gone {
				hd.Gone = append(hd.Gone, handedGone{ID: g.ID, At: g.At, Into: g.Into, How: g.how})
			}
			h.Deletes = hd
		}
		if h.File != "" {
			rel, err := filepath.Rel(landing, h.File)
			if err != nil {
				return err
			}
			h.File = filepath.ToSlash(rel)
			files = append(files, h.File)
		}
		m.Objects = append(m.Objects, h)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := r.opt.HandOff.Deliver(ctx, r.opt.DataDir, files, r.id, b); err != nil {
		return fmt.Errorf("hand off: %w", err)
	}
	r.log.Info("handed off", "objects", len(m.Objects), "files", len(files))
	return nil
}

// manifestFiles lists the landing files a manifest names.
func manifestFiles(b []byte) ([]string, error) {
	m, err := parseManifest(b)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range m.Objects {
		if o.File != "" {
			out = append(out, o.File)
		}
	}
	return out, nil
}

func parseManifest(b []byte) (manifest, error) {
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("not a hand-off manifest: %w", err)
	}
	if m.Version != manifestVersion || m.RunID == "" {
		return m, fmt.Errorf("hand-off manifest version %d (run %q); this ferry reads version %d", m.Version, m.RunID, manifestVersion)
	}
	for _, o := range m.Objects {
		if !filepath.IsLocal(filepath.FromSlash(o.File)) && o.File != "" {
			return m, fmt.Errorf("hand-off manifest names %q outside the landing dir", o.File)
		}
	}
	return m, nil
}

// mergeHandOffs is a run's extraction when workers extracted: every
// hand-off not merged yet goes into current state, with its watermarks
// (never moved back), deletes and API calls, in one transaction; the
// manifests are deleted once that is committed.
func (r *run) mergeHandOffs(ctx context.Context) error {
	hs, err := r.opt.FromHandOffs.Collect(ctx, manifestFiles)
	if err != nil {
		return fmt.Errorf("collect hand-offs: %w", err)
	}
	type merged struct {
		name string
		m    manifest
	}
	var todo []merged
	var names []string
	for _, h := range hs {
		m, err := parseManifest(h.Manifest)
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		names = append(names, h.Name)
		var n int
		if err := r.st.DB.QueryRowContext(ctx, "SELECT count(*) FROM ferry.handoffs WHERE name = $1", h.Name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			todo = append(todo, merged{h.Name, m})
		}
	}
	// An object read whole (a snapshot) replaces current state: only
	// the newest snapshot handed off is merged, and only if it is newer
	// than the last one committed, so a slow worker's older copy never
	// rolls current state back.
	newest := map[string]time.Time{}
	for _, t := range todo {
		for _, o := range t.m.Objects {
			if key := o.System + "." + o.Object; o.File != "" && ObjectKind(o.System, o.Object).Snapshot && o.Upper.After(newest[key]) {
				newest[key] = o.Upper
			}
		}
	}
	for key := range newest {
		var committed sql.NullTime
		sys, obj, _ := strings.Cut(key, ".")
		if err := r.st.DB.QueryRowContext(ctx, `SELECT max(e.upper_ts) FROM ferry.extracts AS e JOIN ferry.runs AS r USING (run_id)
			WHERE e.system = $1 AND e.object = $2 AND e.files <> '[""]' AND r.status IN ('succeeded', 'rejects')`, sys, obj).Scan(&committed); err != nil {
			return fmt.Errorf("the last snapshot of %s: %w", key, err)
		}
		if committed.Valid && !newest[key].After(committed.Time) {
			newest[key] = time.Time{} // none of them is newer
		}
	}
	var dels []objectDeletes
	for _, t := range todo {
		for i, o := range t.m.Objects {
			key := o.System + "." + o.Object
			if o.File != "" && ObjectKind(o.System, o.Object).Snapshot && !o.Upper.Equal(newest[key]) {
				r.log.Info("an older snapshot handed off is not merged", "object", key, "hand_off", t.name, "upper", o.Upper)
				t.m.Objects[i].File = ""
				continue
			}
			if o.File != "" {
				file := filepath.Join(r.opt.DataDir, "landing", filepath.FromSlash(o.File))
				r.landed = append(r.landed, landed{system: o.System, object: o.Object, file: file})
				r.sum.Landed++
				r.sum.Files[key] = file
			}
			r.sum.Extracted[key] += o.Rows
			if o.Unchanged > 0 {
				r.sum.Unchanged[key] += o.Unchanged
			}
			if o.Watermark != nil {
				k := [2]string{o.System, o.Object}
				cur, ok := r.wm[k]
				if !ok {
					old, err := r.st.Watermark(ctx, r.st.DB, o.System, o.Object)
					if err != nil {
						return err
					}
					cur = extract.Watermark{TS: old.TS, ID: old.ID}
				}
				if o.Watermark.After(cur) {
					cur = *o.Watermark
				}
				r.wm[k] = cur
			}
			if d := o.Deletes; d != nil {
				s := &deleteSearch{logCovered: d.LogCovered, sweptAt: d.SweptAt}
				for _, g := range d.Gone {
					s.gone = append(s.gone, found{Gone: extract.Gone{ID: g.ID, At: g.At, Into: g.Into}, how: g.How})
				}
				dels = append(dels, objectDeletes{o.System, o.Object, s})
			}
		}
	}
	record := func(tx *sql.Tx) error {
		now := r.opt.Now().UTC()
		for _, t := range todo {
			for _, o := range t.m.Objects {
				var lower any
				if !o.Lower.IsZero() {
					lower = o.Lower
				}
				files, _ := json.Marshal([]string{o.File})
				if _, err := tx.ExecContext(ctx, r.st.Stmt("InsertExtract"), r.id, o.System, o.Object, o.Mode, lower, o.Upper, o.Rows, string(files), o.Requests); err != nil {
					return fmt.Errorf("record extract: %w", err)
				}
			}
			if t.m.SalesforceCalls > 0 {
				if _, err := tx.ExecContext(ctx, r.st.Stmt("TallyCalls"), t.m.RunID, "salesforce", "extract", t.m.At, t.m.SalesforceCalls); err != nil {
					return fmt.Errorf("tally API calls: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO ferry.handoffs VALUES ($1, $2, $3, $4)", t.name, t.m.RunID, r.id, now); err != nil {
				return fmt.Errorf("record hand-off %s: %w", t.name, err)
			}
		}
		return nil
	}
	if err := r.commitExtract(ctx, dels, record); err != nil {
		return err
	}
	if len(todo) > 0 {
		if err := r.save(ctx, false); err != nil {
			return err
		}
	}
	r.log.Info("merged hand-offs", "merged", len(todo), "already_merged", len(names)-len(todo), "landed", r.sum.Landed)
	return r.opt.FromHandOffs.Drop(ctx, names)
}

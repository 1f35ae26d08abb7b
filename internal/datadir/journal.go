package datadir

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/internal/duck"
	"github.com/ferry-sync/ferry/internal/state"
)

// Between two saves, a load records in ferry's ledger each write it is
// about to send that a retry could repeat (a message, a note), and each
// Bulk job it opens. On local disk that is a DuckDB commit; on object
// storage the rows also go to the bucket at once, one small object per
// append under journal/<generation>/, before the write goes out. Restore
// appends the journal of the committed generation to its warehouse, so a
// worker that takes over from one that died knows what it sent; a save
// folds the journal into the next generation and deletes it.

// journaled are the tables whose appends are journaled, each row in the
// table's column order.
var journaled = map[string]bool{"ledger": true, "bulk_jobs": true}

// nullField stands for NULL in a journal's CSV.
const nullField = `\N`

// Journal stores rows just appended to ferry.<table> in the bucket.
func (r *Remote) Journal(ctx context.Context, table string, rows [][]driver.Value) error {
	if !journaled[table] {
		return fmt.Errorf("ferry.%s is not journaled", table)
	}
	if r.lock != nil {
		if err := r.lock.Check(); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	rec := make([]string, 0, 10)
	for _, row := range rows {
		rec = rec[:0]
		for _, v := range row {
			rec = append(rec, journalField(v))
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	r.journalSeq++
	if r.worker == "" {
		r.worker = uuid.NewString()[:8]
	}
	key := fmt.Sprintf("%sjournal/%08d/%08d-%s-%s.csv", r.prefix, r.head.Generation, r.journalSeq, r.worker, table)
	if _, err := r.b.Put(ctx, key, buf.Bytes(), objstoreNoCond); err != nil {
		return err
	}
	r.journalKeys = append(r.journalKeys, key)
	return nil
}

func journalField(v driver.Value) string {
	switch x := v.(type) {
	case nil:
		return nullField
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999+00")
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// replayJournal appends the journal of the committed generation to the
// cache's warehouse.
func (r *Remote) replayJournal(ctx context.Context) error {
	dir := fmt.Sprintf("%sjournal/%08d/", r.prefix, r.head.Generation)
	objs, err := r.b.List(ctx, dir)
	if err != nil || len(objs) == 0 {
		return err
	}
	if r.head.Warehouse == "" {
		r.log.Warn("data dir: a journal with no committed warehouse is ignored", "entries", len(objs))
		return nil
	}
	tmp, err := os.MkdirTemp(r.Cache, ".journal-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	files := map[string][]string{}
	for i, o := range objs {
		table := o.Key[strings.LastIndex(o.Key, "-")+1 : len(o.Key)-len(".csv")]
		if !journaled[table] {
			return fmt.Errorf("data dir: journal entry %s names no journaled table", o.Key)
		}
		local := filepath.Join(tmp, fmt.Sprintf("%06d.csv", i))
		if _, err := r.b.GetFile(ctx, o.Key, local); err != nil {
			return err
		}
		files[table] = append(files[table], local)
		r.journalKeys = append(r.journalKeys, o.Key)
	}
	db, err := duck.Open(filepath.Join(r.Cache, warehouse))
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for table, fs := range files {
		list := make([]string, len(fs))
		for i, f := range fs {
			list[i] = state.QuoteString(f)
		}
		q := fmt.Sprintf(`INSERT INTO ferry.%s SELECT * FROM read_csv([%s], header = false, delim = ',', all_varchar = true, nullstr = %s, quote = '"', escape = '"')`,
			state.QuoteIdent(table), strings.Join(list, ", "), state.QuoteString(nullField))
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("data dir: replay the journal into ferry.%s: %w", table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return err
	}
	r.log.Info("data dir: replayed the journal of a worker that stopped before saving", "url", r.URL, "entries", len(objs))
	return nil
}

// dropJournal deletes the journal entries a save folded in: those this
// worker replayed or wrote, and no other.
func (r *Remote) dropJournal(ctx context.Context) error {
	for len(r.journalKeys) > 0 {
		if err := r.b.Delete(ctx, r.journalKeys[0]); err != nil {
			return err
		}
		r.journalKeys = r.journalKeys[1:]
	}
	return nil
}

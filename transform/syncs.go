package transform

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/ferry-sync/ferry/extract"
	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/state"
)

// A sync (config.SyncSpec) compiles to an outbound view,
// main.sync__<name>, in the shape of the shipped outbound models: one row
// per field of a record to write (object, key, alt, field, value, type).
// In mode changed, a row is there only when the model's value differs from
// the value current state holds for the target record (compared as
// ferry_norm of the field's type), so a run after the writes has nothing
// to send. The load writes the view like any outbound model.

// SyncView is the name of a sync's outbound view.
func SyncView(name string) string { return "sync__" + name }

// SyncModels reads the SQL files the pipeline's syncs name, as models built
// with the shipped ones.
func SyncModels(p *config.Pipeline, vars Vars) ([]Model, error) {
	var out []Model
	seen := map[string]bool{}
	for i, s := range p.Syncs {
		file := s.ModelFile(p.Path)
		if file == "" || seen[file] {
			continue // a shipped model, or a file another sync reads too
		}
		seen[file] = true
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, p.ProblemAt(s.Path(i)+".model", "%v", err)
		}
		src, err := bind(file, string(b), vars)
		if err != nil {
			return nil, err
		}
		m, err := parse(file, src)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ShippedSyncs reads the sync declarations of the shipped workflows from
// fsys (syncs/<workflow>.yaml under root), with the pipeline's variables
// bound as in models: for config.Pipeline.AddShipped.
func ShippedSyncs(fsys fs.FS, root string, p *config.Pipeline) func(workflow string) ([]byte, string, error) {
	return func(workflow string) ([]byte, string, error) {
		file := path.Join(root, "syncs", workflow+".yaml")
		b, err := fs.ReadFile(fsys, "syncs/"+workflow+".yaml")
		if err != nil {
			return nil, file, err
		}
		src, err := bind(file, string(b), PipelineVars(p))
		return []byte(src), file, err
	}
}

// syncTarget is where a sync's target records are held in current state:
// the table, and the column its key field is.
func syncTarget(s config.SyncSpec) (table, keyColumn string) {
	if s.System() == "intercom" {
		if s.Object() == "companies" {
			return extract.TableName("intercom", "companies"), s.Key.Field // company_id (upsert) or id (update)
		}
		return extract.TableName("intercom", "contacts"), "id"
	}
	return extract.TableName("salesforce", s.Object()), s.Key.Field
}

// CompileSyncs checks each sync's model against its declaration and
// (re)creates its outbound view. A problem is reported at the pipeline
// file's line, before anything is written.
func CompileSyncs(ctx context.Context, db *sql.DB, p *config.Pipeline) error {
	// Every sync view goes first: one whose sync is gone or no longer
	// compiles must not be loaded.
	rows, err := db.QueryContext(ctx, `SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND (view_name LIKE 'sync\_\_%' ESCAPE '\' OR view_name LIKE 'sync\_rows\_\_%' ESCAPE '\')`)
	if err != nil {
		return fmt.Errorf("sync views: %w", err)
	}
	var old []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		old = append(old, v)
	}
	rows.Close()
	for _, v := range old {
		if _, err := db.ExecContext(ctx, "DROP VIEW IF EXISTS main."+state.QuoteIdent(v)); err != nil {
			return fmt.Errorf("drop sync view %s: %w", v, err)
		}
	}
	specs := make([]config.SyncSpec, len(p.Syncs))
	for i, s := range p.Syncs {
		wide, ok, err := expandFieldRows(ctx, db, p, i, s)
		if err != nil {
			return err
		}
		specs[i] = wide
		if !ok {
			continue // a long-form model that names no field: nothing to write
		}
		if err := compileSync(ctx, db, p, i, wide); err != nil {
			return err
		}
	}
	return checkOverlaps(ctx, db, p, specs)
}

// expandFieldRows gives the wide sync a long-form one (field_rows) stands
// for: a view, main.sync_rows__<name>, with a row per key and a column per
// field the model names, and the spec mapping each column to its field.
// ok is false when the model names no field; the sync's view is then
// empty. Other syncs are returned as they are.
func expandFieldRows(ctx context.Context, db *sql.DB, p *config.Pipeline, i int, s config.SyncSpec) (wide config.SyncSpec, ok bool, err error) {
	fr := s.FieldRows
	if fr == nil {
		return s, true, nil
	}
	at := s.Path(i)
	model := "main." + state.QuoteIdent(s.ModelName())
	cols, err := state.Describe(ctx, db, "SELECT * FROM "+model)
	if err != nil {
		return s, false, p.ProblemAt(at+".model", "model %s cannot be read: %v", s.ModelName(), err)
	}
	has := map[string]bool{}
	var names []string
	for _, c := range cols {
		has[strings.ToLower(c.Name)] = true
		names = append(names, c.Name)
	}
	for _, c := range []struct{ path, column string }{{".key.column", s.Key.Column}, {".field_rows.field", fr.Field}, {".field_rows.value", fr.Value}} {
		if !has[strings.ToLower(c.column)] {
			return s, false, p.ProblemAt(at+c.path, "model %s has no column %s (it has %s)", s.ModelName(), c.column, strings.Join(names, ", "))
		}
	}
	key, field, value := state.QuoteIdent(s.Key.Column), state.QuoteIdent(fr.Field), state.QuoteIdent(fr.Value)
	var dup sql.NullString
	if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT CAST(%[1]s AS VARCHAR) || ' ' || CAST(%[2]s AS VARCHAR) FROM %[3]s WHERE %[1]s IS NOT NULL AND %[2]s IS NOT NULL GROUP BY %[1]s, %[2]s HAVING count(*) > 1 LIMIT 1",
		key, field, model)).Scan(&dup); err != nil && err != sql.ErrNoRows {
		return s, false, p.ProblemAt(at+".field_rows", "%v", err)
	}
	if dup.Valid {
		return s, false, p.ProblemAt(at+".field_rows", "model %s has several rows for %s and field %s: a sync writes one value per field of a record", s.ModelName(), s.Key.Column, dup.String)
	}
	typeExpr := "NULL::VARCHAR"
	if fr.TypeColumn != "" {
		if !has[strings.ToLower(fr.TypeColumn)] {
			return s, false, p.ProblemAt(at+".field_rows.type_column", "model %s has no column %s (it has %s)", s.ModelName(), fr.TypeColumn, strings.Join(names, ", "))
		}
		typeExpr = "CAST(" + state.QuoteIdent(fr.TypeColumn) + " AS VARCHAR)"
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT CAST(%[1]s AS VARCHAR), min(%[4]s), count(DISTINCT %[4]s) FROM %[2]s WHERE %[3]s IS NOT NULL AND %[1]s IS NOT NULL GROUP BY 1 ORDER BY 1", field, model, key, typeExpr))
	if err != nil {
		return s, false, p.ProblemAt(at+".field_rows", "%v", err)
	}
	var fields []string
	types := map[string]string{}
	for rows.Next() {
		var f string
		var typ sql.NullString
		var kinds int
		if err := rows.Scan(&f, &typ, &kinds); err != nil {
			rows.Close()
			return s, false, err
		}
		if kinds > 1 {
			rows.Close()
			return s, false, p.ProblemAt(at+".field_rows.type_column", "model %s gives field %s more than one type", s.ModelName(), f)
		}
		fields = append(fields, f)
		types[f] = fr.Type
		if typ.Valid {
			switch typ.String {
			case "string", "integer", "number", "boolean":
				types[f] = typ.String
			default:
				rows.Close()
				return s, false, p.ProblemAt(at+".field_rows.type_column", "model %s gives field %s the type %q (string, integer, number or boolean)", s.ModelName(), f, typ.String)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, false, err
	}
	wide = s
	wide.FieldRows = nil
	wide.Long = true
	wide.Model = "sync_rows__" + s.Name
	wide.Fields = nil
	var exprs []string
	for _, f := range fields {
		if strings.TrimSpace(f) == "" || strings.EqualFold(f, s.Key.Field) {
			return s, false, p.ProblemAt(at+".field_rows.field", "model %s names a field %q to write, which is empty or the key", s.ModelName(), f)
		}
		if other := p.MappingWriter(s, f); other != "" && !s.Essential {
			return s, false, p.ProblemAt(at+".field_rows.field", "model %s names %s.%s, which ferry's %s mapping writes: two writers would overwrite each other", s.ModelName(), s.Target, f, other)
		}
		wide.Fields = append(wide.Fields, config.SyncField{Column: f, Field: f, Type: types[f]})
		// A field without a row for a record is not written (a model of
		// changes names only what changed); a row with no value clears it.
		exprs = append(exprs, fmt.Sprintf("max(CAST(%[1]s AS VARCHAR)) FILTER (WHERE CAST(%[2]s AS VARCHAR) = %[3]s) AS %[4]s, count(*) FILTER (WHERE CAST(%[2]s AS VARCHAR) = %[3]s) > 0 AS %[5]s",
			value, field, state.QuoteString(f), state.QuoteIdent(f), state.QuoteIdent(hasColumn(len(wide.Fields)-1))))
	}
	if len(fields) == 0 {
		_, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE OR REPLACE VIEW main.%s AS SELECT NULL::VARCHAR AS object, NULL::VARCHAR AS key, NULL::VARCHAR AS alt,
    NULL::VARCHAR AS field, NULL::VARCHAR AS value, NULL::VARCHAR AS type, NULL::BOOLEAN AS creates WHERE false`, state.QuoteIdent(SyncView(s.Name))))
		return wide, false, err
	}
	q := fmt.Sprintf("CREATE OR REPLACE VIEW main.%s AS SELECT %s, %s FROM %s WHERE %s IS NOT NULL GROUP BY %s",
		state.QuoteIdent(wide.Model), key, strings.Join(exprs, ", "), model, key, key)
	if _, err := db.ExecContext(ctx, q); err != nil {
		return s, false, p.ProblemAt(at+".field_rows", "compile sync %s: %v", s.Name, err)
	}
	return wide, true, nil
}

// hasColumn names the column of a long-form sync's wide view that says
// whether the model has a row for a record's j-th field.
func hasColumn(j int) string { return fmt.Sprintf("ferry_has_%d", j) }

// checkOverlaps refuses two syncs that would write one field of one record
// with different values: each run, each would put its own value back.
// Syncs of one target keyed on the same field, writing a field in common,
// must not hold a key in common with values apart (the same value is
// written once: the second finds it held).
func checkOverlaps(ctx context.Context, db *sql.DB, p *config.Pipeline, specs []config.SyncSpec) error {
	for j, b := range specs {
		for i, a := range specs[:j] {
			if a.Target != b.Target || !strings.EqualFold(a.Key.Field, b.Key.Field) {
				continue
			}
			for ja, fa := range a.Fields {
				for jb, fb := range b.Fields {
					if !strings.EqualFold(fa.Field, fb.Field) {
						continue
					}
					key, err := differingKey(ctx, db, p, a, ja, b, jb)
					if err != nil {
						return p.ProblemAt(b.Path(j), "compare with sync %s: %v", a.Name, err)
					}
					if key != "" {
						return p.ProblemAt(b.FieldPath(j, jb), "sync %s and sync %s (%s) both write %s.%s of the record whose %s is %s, with different values: each run would put its own value back; give them records apart",
							b.Name, a.Name, a.Path(i), b.Target, fb.Field, b.Key.Field, key)
					}
				}
			}
		}
	}
	return nil
}

// differingKey is a key (the first) whose record a's ja-th field and b's
// jb-th field would both write, with different values ("" for none).
func differingKey(ctx context.Context, db *sql.DB, p *config.Pipeline, a config.SyncSpec, ja int, b config.SyncSpec, jb int) (string, error) {
	side := func(s config.SyncSpec, j int) (string, error) {
		model := "main." + state.QuoteIdent(s.ModelName())
		v, err := valueExpr(ctx, db, p, "", model, s, s.Fields[j])
		if err != nil {
			return "", err
		}
		written := "true"
		if s.Long {
			written = "m." + state.QuoteIdent(hasColumn(j))
		}
		return fmt.Sprintf("SELECT CAST(m.%s AS VARCHAR) AS k, %s AS v FROM %s AS m WHERE %s", state.QuoteIdent(s.Key.Column), v, model, written), nil
	}
	qa, err := side(a, ja)
	if err != nil {
		return "", err
	}
	qb, err := side(b, jb)
	if err != nil {
		return "", err
	}
	var key sql.NullString
	q := fmt.Sprintf("SELECT a.k FROM (%s) AS a JOIN (%s) AS b ON a.k = b.k WHERE a.v IS DISTINCT FROM b.v ORDER BY a.k LIMIT 1", qa, qb)
	if err := db.QueryRowContext(ctx, q).Scan(&key); err != nil && err != sql.ErrNoRows {
		return "", err
	}
	return key.String, nil
}

func compileSync(ctx context.Context, db *sql.DB, p *config.Pipeline, i int, s config.SyncSpec) error {
	at := s.Path(i)
	model := "main." + state.QuoteIdent(s.ModelName())
	cols, err := state.Describe(ctx, db, "SELECT * FROM "+model)
	if err != nil {
		return p.ProblemAt(at+".model", "model %s cannot be read: %v", s.ModelName(), err)
	}
	has := map[string]bool{}
	var names []string
	for _, c := range cols {
		has[strings.ToLower(c.Name)] = true
		names = append(names, c.Name)
	}
	if !has[strings.ToLower(s.Key.Column)] {
		return p.ProblemAt(at+".key.column", "model %s has no column %s (it has %s)", s.ModelName(), s.Key.Column, strings.Join(names, ", "))
	}
	for j, f := range s.Fields {
		if f.Value == nil && !has[strings.ToLower(f.Column)] {
			return p.ProblemAt(fmt.Sprintf("%s.fields[%d].column", at, j), "model %s has no column %s (it has %s)", s.ModelName(), f.Column, strings.Join(names, ", "))
		}
	}
	key := state.QuoteIdent(s.Key.Column)
	switch {
	case s.Object() == "contact_tags":
		return compileTagSync(ctx, db, p, at, model, s)
	case s.Operation == "attach":
		return compileAttachSync(ctx, db, p, i, model, s)
	}
	var dup sql.NullString
	if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT CAST(%[1]s AS VARCHAR) FROM %[2]s WHERE %[1]s IS NOT NULL GROUP BY 1 HAVING count(*) > 1 LIMIT 1", key, model)).Scan(&dup); err != nil && err != sql.ErrNoRows {
		return p.ProblemAt(at+".key.column", "%v", err)
	}
	if dup.Valid {
		return p.ProblemAt(at+".key.column", "model %s has several rows for %s %s: a sync writes one row per record", s.ModelName(), s.Key.Column, dup.String)
	}
	if s.MadeOnce() {
		return compileOnceSync(ctx, db, p, at, model, s)
	}
	switch s.Operation {
	case "delete":
		return compileDeleteSync(ctx, db, p, at, model, s)
	case "create":
		return compileCreateSync(ctx, db, p, i, model, s)
	}
	table, keyField := syncTarget(s)
	held, err := state.TableColumns(ctx, db, "raw", table)
	if err != nil {
		return err
	}
	heldCol := map[string]string{}
	for _, c := range held {
		heldCol[strings.ToLower(c.Name)] = c.Name
	}
	if len(held) == 0 {
		return p.ProblemAt(at+".target", "ferry holds no %s: extract it (extract.%s.%s) so that the sync can compare and match", s.Target, s.System(), s.Object())
	}
	if heldCol[strings.ToLower(keyField)] == "" {
		return p.ProblemAt(at+".key.field", "%s has no field %s", s.Target, keyField)
	}
	// An update's key may name a record this run creates before the sync
	// is written ('lead:<intercom id>', 'ref:<Object>:<key>'): the loader
	// puts its Id in, and it counts as held, with nothing set.
	presentExpr := "held.k IS NOT NULL"
	if s.Operation == "update" && s.System() == "salesforce" {
		presentExpr = "(held.k IS NOT NULL OR src.k LIKE 'lead:%' OR src.k LIKE 'ref:%')"
	}
	// Values and the held values, one expression each; rows holds, per
	// field, the struct of what the view compares. The view joins the model
	// with what is held once and unnests the fields: a join per field,
	// UNION ALL-ed, built a hash table of the held records per field, and
	// at a million contacts needed more than 305 MiB of memory_limit where
	// the single join needs less.
	var srcExprs, heldExprs, rows []string
	for j, f := range s.Fields {
		fp := s.FieldPath(i, j)
		hc := heldCol[strings.ToLower(f.Field)]
		held := "NULL"
		switch {
		case hc != "":
			held = state.QuoteIdent(hc)
		case s.Operation != "insert": // an insert compares nothing
			return p.ProblemAt(fp+".field", "%s has no field %s that ferry extracts", s.Target, f.Field)
		}
		v, err := valueExpr(ctx, db, p, fp, model, s, f)
		if err != nil {
			return err
		}
		typ := cmp.Or(f.Type, "string")
		srcExprs = append(srcExprs, fmt.Sprintf("%s AS v%d", v, j))
		has := "true"
		if s.Long {
			srcExprs = append(srcExprs, fmt.Sprintf("m.%s AS has%d", state.QuoteIdent(hasColumn(j)), j))
			has = fmt.Sprintf("src.has%d", j)
		}
		heldExprs = append(heldExprs, fmt.Sprintf("CAST(%s AS VARCHAR) AS h%d", held, j))
		// Values are written in the form they are compared in; a
		// Salesforce checkbox is never empty, so an empty boolean is false.
		value, current := fmt.Sprintf("ferry_norm(src.v%d, %s)", j, state.QuoteString(typ)), fmt.Sprintf("held.h%d", j)
		if typ == "boolean" && s.System() == "salesforce" {
			value = "coalesce(" + value + ", 'false')"
			current = "coalesce(" + current + ", 'false')"
		}
		rows = append(rows, fmt.Sprintf("{'has': %s, 'field': %s, 'value': %s, 'type': %s, 'current': %s}",
			has, state.QuoteString(f.Field), value, state.QuoteString(typ), current))
	}
	// Per operation: which rows are written (present), which values count
	// as changed, which held records are compared with (live), and
	// whether a row creates its record.
	present, alt, creates := "present", "NULL::VARCHAR", "false"
	// Only the target's records the model names are compared: at a million
	// Leads, holding every one's compared fields to join them with the
	// model ran past transform.memory_limit.
	live := "WHERE k IN (SELECT k FROM src) AND NOT coalesce(is_deleted, false)"
	changed := "(present OR value IS NOT NULL)"
	if s.Mode != "all" {
		changed = "((NOT present AND ferry_norm(value, type) IS NOT NULL) OR (present AND ferry_norm(value, type) IS DISTINCT FROM ferry_norm(current, type)))"
	}
	switch s.Operation {
	case "upsert": // held or not, the target decides
		present, alt, creates = "true", state.QuoteString(s.Key.Field), "NOT present"
	case "insert": // only keys never held, deleted records included: created once, never again
		present, alt, creates = "NOT present", state.QuoteString(s.Key.Field), "NOT present"
		changed, live = "ferry_norm(value, type) IS NOT NULL", "WHERE k IN (SELECT k FROM src)"
	}
	view := strings.NewReplacer(
		"$VIEW", state.QuoteIdent(SyncView(s.Name)),
		"$KEY", key,
		"$VALUES", strings.Join(srcExprs, ", "),
		"$MODEL", model,
		"$HELDKEY", state.QuoteIdent(heldCol[strings.ToLower(keyField)]),
		"$HELD", strings.Join(heldExprs, ", "),
		"$TABLE", state.QuoteIdent(table),
		"$FIELDS", strings.Join(rows, ",\n        "),
		"$PRESENTEXPR", presentExpr,
		"$OBJECT", state.QuoteString(s.Object()),
		"$ALT", alt,
		"$PRESENT", present,
		"$CHANGED", changed,
		"$LIVE", live,
		"$CREATES", creates,
	).Replace(`CREATE OR REPLACE VIEW main.$VIEW AS
WITH src AS (
    SELECT CAST(m.$KEY AS VARCHAR) AS k, $VALUES FROM $MODEL AS m WHERE m.$KEY IS NOT NULL
),
held AS (
    SELECT * FROM (SELECT CAST($HELDKEY AS VARCHAR) AS k, $HELD, is_deleted FROM raw.$TABLE) $LIVE
),
joined AS (
    SELECT src.k, $PRESENTEXPR AS present, [
        $FIELDS
    ] AS fs
    FROM src LEFT JOIN held ON held.k = src.k
),
fields AS (
    SELECT k, present, f.field AS field, f.value AS value, f.type AS type, f.current AS current
    FROM (SELECT k, present, unnest(fs) AS f FROM joined)
    WHERE f.has
)
SELECT $OBJECT AS object, k AS key, $ALT AS alt, field, value, type, $CREATES AS creates FROM fields
WHERE $PRESENT AND $CHANGED`)
	if _, err := db.ExecContext(ctx, view); err != nil {
		return p.ProblemAt(at, "compile sync %s: %v", s.Name, err)
	}
	return nil
}

// compileTagSync compiles a sync of Intercom contacts' tags: the model
// has a row per contact and tag it manages, saying whether the contact
// should have it. The view holds, per contact (a record), the tags
// (fields) whose membership differs from what current state holds: 'true'
// to tag, 'false' to untag. Contacts ferry does not hold, or holds deleted,
// are left out.
func compileTagSync(ctx context.Context, db *sql.DB, p *config.Pipeline, at, model string, s config.SyncSpec) error {
	view := strings.NewReplacer(
		"$VIEW", state.QuoteIdent(SyncView(s.Name)),
		"$KEY", state.QuoteIdent(s.Key.Column),
		// Longer names first: the replacer tries them in this order.
		"$TAGGED", state.QuoteIdent(s.Fields[1].Column),
		"$TAGS", state.QuoteIdent(extract.TableName("intercom", "tags")),
		"$TAG", state.QuoteIdent(s.Fields[0].Column),
		"$MODEL", model,
		"$CONTACTS", state.QuoteIdent(extract.TableName("intercom", "contacts")),
	).Replace(`CREATE OR REPLACE VIEW main.$VIEW AS
WITH src AS (
    SELECT DISTINCT CAST(m.$KEY AS VARCHAR) AS k, CAST(m.$TAG AS VARCHAR) AS tag, coalesce(CAST(m.$TAGGED AS BOOLEAN), false) AS tagged
    FROM $MODEL AS m WHERE m.$KEY IS NOT NULL AND m.$TAG IS NOT NULL
),
live AS (
    SELECT id AS k, tag_ids FROM raw.$CONTACTS WHERE id IN (SELECT k FROM src) AND NOT coalesce(is_deleted, false)
),
held AS (
    SELECT live.k, tags.name AS tag
    FROM live CROSS JOIN unnest(live.tag_ids) AS u(tag_id)
    INNER JOIN raw.$TAGS AS tags ON tags.id = u.tag_id
)
SELECT 'contacts' AS object, src.k AS key, NULL::VARCHAR AS alt, src.tag AS field, CAST(src.tagged AS VARCHAR) AS value, 'boolean' AS type, false AS creates
FROM src
INNER JOIN live ON live.k = src.k
LEFT JOIN held ON held.k = src.k AND held.tag = src.tag
WHERE src.tagged <> (held.k IS NOT NULL)`)
	if _, err := db.ExecContext(ctx, view); err != nil {
		return p.ProblemAt(at, "compile sync %s: %v", s.Name, err)
	}
	var both sql.NullString
	q := fmt.Sprintf("SELECT CAST(%[1]s AS VARCHAR) || ' ' || CAST(%[2]s AS VARCHAR) FROM %[3]s GROUP BY %[1]s, %[2]s HAVING count(DISTINCT %[4]s) > 1 LIMIT 1",
		state.QuoteIdent(s.Key.Column), state.QuoteIdent(s.Fields[0].Column), model, state.QuoteIdent(s.Fields[1].Column))
	if err := db.QueryRowContext(ctx, q).Scan(&both); err != nil && err != sql.ErrNoRows {
		return p.ProblemAt(at, "%v", err)
	}
	if both.Valid {
		return p.ProblemAt(at+".fields", "model %s both tags and untags contact and tag %s", s.ModelName(), both.String)
	}
	return nil
}

// compileAttachSync compiles a sync that attaches Intercom contacts to
// companies: a row of the model per contact and company, the key a
// contact's Intercom id or ref:intercom.contacts:<key> for one a create of
// this run makes. The view leaves out attachments current state holds and
// contacts it holds no more; each record is a contact, with a row per
// company (field company).
func compileAttachSync(ctx context.Context, db *sql.DB, p *config.Pipeline, i int, model string, s config.SyncSpec) error {
	at := s.Path(i)
	// A contact named by reference is one a create loaded before makes:
	// its key is in that create's view.
	made := []string{"SELECT NULL::VARCHAR AS key WHERE false"}
	for _, c := range p.Syncs[:i] {
		if c.Target == "intercom.contacts" && c.Operation == "create" {
			made = append(made, "SELECT key FROM main."+state.QuoteIdent(SyncView(c.Name)))
		}
	}
	const prefix = "ref:intercom.contacts:"
	var ref sql.NullString
	q := fmt.Sprintf(`SELECT k FROM (SELECT DISTINCT CAST(%s AS VARCHAR) AS k FROM %s) WHERE k LIKE 'ref:%%'
AND (NOT starts_with(k, %s) OR substr(k, %d) NOT IN (%s)) ORDER BY k LIMIT 1`,
		state.QuoteIdent(s.Key.Column), model, state.QuoteString(prefix), len(prefix)+1, strings.Join(made, " UNION ALL "))
	if err := db.QueryRowContext(ctx, q).Scan(&ref); err != nil && err != sql.ErrNoRows {
		return p.ProblemAt(at, "compile sync %s: %v", s.Name, err)
	}
	if ref.Valid {
		return p.ProblemAt(at+".key.column", "model %s names the contact %q: a reference must be %s<key> of a contact a create of intercom.contacts declared before this sync makes", s.ModelName(), ref.String, prefix)
	}
	view := strings.NewReplacer(
		"$VIEW", state.QuoteIdent(SyncView(s.Name)),
		"$KEY", state.QuoteIdent(s.Key.Column),
		"$COMPANY", state.QuoteIdent(s.Fields[0].Column),
		"$MODEL", model,
		"$CONTACTS", state.QuoteIdent(extract.TableName("intercom", "contacts")),
	).Replace(`CREATE OR REPLACE VIEW main.$VIEW AS
WITH src AS (
    SELECT DISTINCT CAST(m.$KEY AS VARCHAR) AS k, CAST(m.$COMPANY AS VARCHAR) AS company
    FROM $MODEL AS m WHERE m.$KEY IS NOT NULL AND m.$COMPANY IS NOT NULL
),
live AS (
    SELECT id AS k, company_ids FROM raw.$CONTACTS WHERE id IN (SELECT k FROM src) AND NOT coalesce(is_deleted, false)
)
SELECT 'contacts' AS object, src.k AS key, NULL::VARCHAR AS alt, 'company' AS field, src.company AS value, 'string' AS type, false AS creates
FROM src
LEFT JOIN live ON live.k = src.k
WHERE CASE WHEN src.k LIKE 'ref:%' THEN true
           ELSE live.k IS NOT NULL AND NOT coalesce(list_contains(live.company_ids, src.company), false) END`)
	if _, err := db.ExecContext(ctx, view); err != nil {
		return p.ProblemAt(at, "compile sync %s: %v", s.Name, err)
	}
	return nil
}

// compileCreateSync compiles a create of Intercom contacts: every row of
// the model is a contact to make, keyed by the model's own key (the
// Intercom id comes from the create), with the fields it has values for.
// The model says which records are new; a retried create is made safe by
// the loader (the ledger's pending marks, a look-up by email, a 409 taken
// as the contact that exists).
func compileCreateSync(ctx context.Context, db *sql.DB, p *config.Pipeline, i int, model string, s config.SyncSpec) error {
	// Every contact has an email: a create whose answer was lost is looked
	// up by it before it is sent again.
	email := slices.IndexFunc(s.Fields, func(f config.SyncField) bool { return f.Field == "email" })
	if email < 0 {
		return p.ProblemAt(s.FieldPath(i, 0), "model %s names no email for the contacts it creates: a create whose answer was lost is looked up by it, so that it is never made twice", s.ModelName())
	}
	if f := s.Fields[email]; f.Value == nil {
		has := "true"
		if s.Long {
			has = "m." + state.QuoteIdent(hasColumn(email))
		}
		var key sql.NullString
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT CAST(m.%[1]s AS VARCHAR) FROM %[2]s AS m WHERE m.%[1]s IS NOT NULL AND (NOT %[3]s OR nullif(trim(CAST(m.%[4]s AS VARCHAR)), '') IS NULL) LIMIT 1",
			state.QuoteIdent(s.Key.Column), model, has, state.QuoteIdent(f.Column))).Scan(&key); err != nil && err != sql.ErrNoRows {
			return p.ProblemAt(s.Path(i), "compile sync %s: %v", s.Name, err)
		}
		if key.Valid {
			return p.ProblemAt(s.FieldPath(i, email), "model %s has no email for %s %s: a create of intercom.contacts needs one, so that a create whose answer was lost is found rather than made twice", s.ModelName(), s.Key.Column, key.String)
		}
	}
	var rows []string
	for j, f := range s.Fields {
		fp := s.FieldPath(i, j)
		v, err := valueExpr(ctx, db, p, fp, model, s, f)
		if err != nil {
			return err
		}
		typ := cmp.Or(f.Type, "string")
		only := ""
		if s.Long {
			only = " WHERE m." + state.QuoteIdent(hasColumn(j))
		}
		rows = append(rows, fmt.Sprintf("SELECT CAST(m.%s AS VARCHAR) AS k, %s AS field, ferry_norm(%s, %s) AS value, %[4]s AS type FROM %s AS m%s",
			state.QuoteIdent(s.Key.Column), state.QuoteString(f.Field), v, state.QuoteString(typ), model, only))
	}
	if _, err := db.ExecContext(ctx, createsView(s, rows, "")); err != nil {
		return p.ProblemAt(s.Path(i), "compile sync %s: %v", s.Name, err)
	}
	return nil
}

// createsView is the outbound view of a sync whose every row makes a
// record: rows select (k, field, value[, type]) from the model, one per
// field; a key's fields with a value are written, unless made (a query
// of keys) says the key was made already.
func createsView(s config.SyncSpec, rows []string, made string) string {
	exclude := ""
	if made != "" {
		exclude = " AND k NOT IN (" + made + ")"
	}
	return strings.NewReplacer(
		"$VIEW", state.QuoteIdent(SyncView(s.Name)),
		"$FIELDS", strings.Join(rows, "\n    UNION ALL\n    "),
		"$OBJECT", state.QuoteString(s.Object()),
		"$EXCLUDE", exclude,
	).Replace(`CREATE OR REPLACE VIEW main.$VIEW AS
WITH fields AS (
    $FIELDS
)
SELECT $OBJECT AS object, k AS key, NULL::VARCHAR AS alt, field, value, type, true AS creates
FROM fields
WHERE k IS NOT NULL AND value IS NOT NULL$EXCLUDE`)
}

// compileDeleteSync compiles a sync that deletes Salesforce records: each
// key of the model is the Id of a record to delete. The view keeps the ones
// current state holds live, so a run after the deletes has nothing to send;
// each is one row, its Id (the loader sends only the key).
func compileDeleteSync(ctx context.Context, db *sql.DB, p *config.Pipeline, at, model string, s config.SyncSpec) error {
	table, _ := syncTarget(s)
	held, err := state.TableColumns(ctx, db, "raw", table)
	if err != nil {
		return err
	}
	if len(held) == 0 {
		return p.ProblemAt(at+".target", "ferry holds no %s: extract it (extract.%s.%s) so that the sync knows which records still exist", s.Target, s.System(), s.Object())
	}
	view := strings.NewReplacer(
		"$VIEW", state.QuoteIdent(SyncView(s.Name)),
		"$KEY", state.QuoteIdent(s.Key.Column),
		"$MODEL", model,
		"$TABLE", state.QuoteIdent(table),
		"$OBJECT", state.QuoteString(s.Object()),
	).Replace(`CREATE OR REPLACE VIEW main.$VIEW AS
SELECT $OBJECT AS object, k AS key, NULL::VARCHAR AS alt, 'Id' AS field, k AS value, 'string' AS type, false AS creates
FROM (SELECT DISTINCT CAST(m.$KEY AS VARCHAR) AS k FROM $MODEL AS m WHERE m.$KEY IS NOT NULL)
WHERE k IN (SELECT id FROM raw.$TABLE WHERE NOT coalesce(is_deleted, false))`)
	if _, err := db.ExecContext(ctx, view); err != nil {
		return p.ProblemAt(at, "compile sync %s: %v", s.Name, err)
	}
	return nil
}

// compileOnceSync compiles a sync of records Intercom makes anew on every
// call (notes on conversations, messages): one per key of the model, made
// once. Intercom cannot be asked whether one exists without reading around
// it, so the write ledger is what holds them: the view keeps the keys it
// has none made for, with the fields that have values. A record missing a
// field it needs is sent all the same, for Intercom to refuse and the run
// to list with its rejects.
func compileOnceSync(ctx context.Context, db *sql.DB, p *config.Pipeline, at, model string, s config.SyncSpec) error {
	var rows []string
	for j, f := range s.Fields {
		v, err := valueExpr(ctx, db, p, fmt.Sprintf("%s.fields[%d]", at, j), model, s, f)
		if err != nil {
			return err
		}
		rows = append(rows, fmt.Sprintf("SELECT CAST(m.%s AS VARCHAR) AS k, %s AS field, %s AS value, 'string' AS type FROM %s AS m",
			state.QuoteIdent(s.Key.Column), state.QuoteString(strings.ToLower(f.Field)), v, model))
	}
	made := fmt.Sprintf("SELECT record_key FROM ferry.ledger WHERE target = 'intercom' AND object = %s AND op = 'create' AND status = 'done'", state.QuoteString(s.Object()))
	if _, err := db.ExecContext(ctx, createsView(s, rows, made)); err != nil {
		return p.ProblemAt(at, "compile sync %s: %v", s.Name, err)
	}
	return nil
}

// valueExpr is the model's value of f, translated by its value map; a
// value the map lacks, with no default, is a problem at the map's line.
func valueExpr(ctx context.Context, db *sql.DB, p *config.Pipeline, fp, model string, s config.SyncSpec, f config.SyncField) (string, error) {
	if f.Value != nil {
		return state.QuoteString(*f.Value), nil
	}
	col := "CAST(m." + state.QuoteIdent(f.Column) + " AS VARCHAR)"
	if len(f.Values) == 0 {
		return col, nil
	}
	keys := make([]string, 0, len(f.Values))
	for k := range f.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if f.Default == nil {
		quoted := make([]string, len(keys))
		for i, k := range keys {
			quoted[i] = state.QuoteString(k)
		}
		var missing sql.NullString
		q := fmt.Sprintf("SELECT %[1]s FROM %[2]s AS m WHERE %[1]s IS NOT NULL AND %[1]s NOT IN (%[3]s) ORDER BY 1 LIMIT 1", col, model, strings.Join(quoted, ", "))
		if err := db.QueryRowContext(ctx, q).Scan(&missing); err != nil && err != sql.ErrNoRows {
			return "", p.ProblemAt(fp+".values", "%v", err)
		}
		if missing.Valid {
			return "", p.ProblemAt(fp+".values", "value %q of column %s has no mapping (map it, or give a default)", missing.String, f.Column)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CASE WHEN %s IS NULL THEN NULL", col)
	for _, k := range keys {
		fmt.Fprintf(&b, " WHEN %s = %s THEN %s", col, state.QuoteString(k), state.QuoteString(f.Values[k]))
	}
	if f.Default != nil {
		fmt.Fprintf(&b, " ELSE %s", state.QuoteString(*f.Default))
	} else {
		fmt.Fprintf(&b, " ELSE %s", col)
	}
	b.WriteString(" END")
	return b.String(), nil
}

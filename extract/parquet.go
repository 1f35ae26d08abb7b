package extract

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// LandingSchema is the schema of a landing file for columns: the lineage
// columns (run, extraction time, the record's key, change time and delete
// flag), one typed column per field, and _unmapped.
func LandingSchema(cols []Column) *arrow.Schema {
	fields := []arrow.Field{
		{Name: "_run_id", Type: arrow.BinaryTypes.String},
		{Name: "_extracted_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "is_deleted", Type: arrow.FixedWidthTypes.Boolean},
	}
	for _, c := range cols {
		fields = append(fields, arrow.Field{Name: c.Name, Type: c.Type.arrow(), Nullable: true})
	}
	fields = append(fields, arrow.Field{Name: Unmapped, Type: arrow.BinaryTypes.String, Nullable: true})
	return arrow.NewSchema(fields, nil)
}

// rowGroupRows bounds memory: rows are flushed to a row group once this
// many are buffered, whatever the page size.
const rowGroupRows = 8192

// Landing writes one object's delta of one run as a Parquet file under
// dir/source=S/object=O/run=R/. Files are written under a temporary name,
// synced and renamed, so a reader never sees a partial file.
type Landing struct {
	dir, runID  string
	object      string
	extractedAt time.Time
	tmp, final  string
	cols        []Column
	used        usedTree // the parts of a record the columns read
	f           *os.File
	w           *pqarrow.FileWriter
	b           *array.RecordBuilder
	buffered    int
	rows        int64
}

// NewLanding prepares a landing file for system/object in run runID, with
// one typed column per entry of cols (lineage names are skipped).
func NewLanding(root, system, object, runID string, extractedAt time.Time, cols []Column) (*Landing, error) {
	var kept []Column
	seen := map[string]bool{}
	for _, c := range cols {
		if IsLineage(c.Name) {
			continue
		}
		if seen[strings.ToLower(c.Name)] {
			return nil, fmt.Errorf("%s.%s: column %s is listed twice (names are case-insensitive)", system, object, c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
		kept = append(kept, c)
	}
	dir := filepath.Join(root, "source="+system, "object="+object, "run="+runID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create landing dir: %w", err)
	}
	// A run's extraction lands part-00000. A run that reads an object
	// again (ferry serve's batch reading back what it wrote) lands the
	// next free part after part-00001, the run's tombstones
	// (state.TombstoneFile): the first file stays in the audit trail.
	final := filepath.Join(dir, "part-00000.parquet")
	for n := 2; fileExists(final); n++ {
		final = filepath.Join(dir, fmt.Sprintf("part-%05d.parquet", n))
	}
	tmp := final + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("create landing file: %w", err)
	}
	schema := LandingSchema(kept)
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithMaxRowGroupLength(rowGroupRows), parquet.WithDictionaryDefault(true))
	w, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	return &Landing{dir: dir, runID: runID, object: system + "." + object, extractedAt: extractedAt, tmp: tmp, final: final,
		cols: kept, used: newUsedTree(cols), f: f, w: w, b: array.NewRecordBuilder(memory.DefaultAllocator, schema)}, nil
}

// Write appends rows, flushing a row group whenever enough are buffered. A
// value that does not fit its column's type is an error naming the record
// and field (a *FieldError); nothing is coerced.
func (l *Landing) Write(rows []Row) error {
	ts := arrow.Timestamp(l.extractedAt.UnixMicro())
	vals := make([]any, len(l.cols))
	for _, r := range rows {
		m, err := decode(r.Record)
		if err != nil {
			return fmt.Errorf("%s record %s: response is not a JSON object: %w", l.object, r.ID, err)
		}
		for i, c := range l.cols {
			v, ok := convert(lookup(m, c.Path), c.Type)
			if !ok {
				return fmt.Errorf("%s %w", l.object, &FieldError{Record: r.ID, Column: c.Name, Type: c.Type, Value: lookup(m, c.Path)})
			}
			vals[i] = v
		}
		l.b.Field(0).(*array.StringBuilder).Append(l.runID)
		l.b.Field(1).(*array.TimestampBuilder).Append(ts)
		l.b.Field(2).(*array.StringBuilder).Append(r.ID)
		if r.UpdatedAt.IsZero() {
			l.b.Field(3).AppendNull()
		} else {
			l.b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(r.UpdatedAt.UnixMicro()))
		}
		l.b.Field(4).(*array.BooleanBuilder).Append(r.Deleted)
		for i, v := range vals {
			appendValue(l.b.Field(5+i), v)
		}
		if rest := unmapped(m, l.used); rest != "" {
			l.b.Field(5 + len(l.cols)).(*array.StringBuilder).Append(rest)
		} else {
			l.b.Field(5 + len(l.cols)).AppendNull()
		}
		l.buffered++
		l.rows++
		if l.buffered >= rowGroupRows {
			if err := l.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func appendValue(b array.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.AppendNull()
	case string:
		b.(*array.StringBuilder).Append(x)
	case int64:
		b.(*array.Int64Builder).Append(x)
	case float64:
		b.(*array.Float64Builder).Append(x)
	case bool:
		b.(*array.BooleanBuilder).Append(x)
	case time.Time:
		switch tb := b.(type) {
		case *array.TimestampBuilder:
			tb.Append(arrow.Timestamp(x.UnixMicro()))
		case *array.Date32Builder:
			tb.Append(arrow.Date32FromTime(x))
		}
	case []string:
		lb := b.(*array.ListBuilder)
		lb.Append(true)
		vb := lb.ValueBuilder().(*array.StringBuilder)
		for _, s := range x {
			vb.Append(s)
		}
	}
}

func (l *Landing) flush() error {
	if l.buffered == 0 {
		return nil
	}
	rec := l.b.NewRecordBatch()
	defer rec.Release()
	l.buffered = 0
	if err := l.w.Write(rec); err != nil {
		return fmt.Errorf("write parquet row group: %w", err)
	}
	return nil
}

// Rows is how many rows were written.
func (l *Landing) Rows() int64 { return l.rows }

// Commit finishes the file durably and returns its path; with no rows it
// removes the file and returns "".
func (l *Landing) Commit() (string, error) {
	defer l.b.Release()
	if err := l.flush(); err != nil {
		l.abort()
		return "", err
	}
	err := l.w.Close()
	l.f.Close() // the writer may or may not have closed it already
	if err != nil {
		os.Remove(l.tmp)
		return "", fmt.Errorf("close parquet file: %w", err)
	}
	if l.rows == 0 {
		os.Remove(l.tmp)
		os.Remove(l.dir)
		return "", nil
	}
	f, err := os.OpenFile(l.tmp, os.O_RDWR, 0)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err != nil {
		return "", fmt.Errorf("sync landing file: %w", err)
	}
	if err := os.Rename(l.tmp, l.final); err != nil {
		return "", fmt.Errorf("publish landing file: %w", err)
	}
	if d, err := os.Open(l.dir); err == nil {
		d.Sync()
		d.Close()
	}
	return l.final, nil
}

// Abort discards the file.
func (l *Landing) Abort() { l.b.Release(); l.abort() }

func (l *Landing) abort() {
	l.w.Close()
	l.f.Close()
	os.Remove(l.tmp)
	os.Remove(l.dir)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

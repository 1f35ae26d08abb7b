package extract

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// LandingSchema is the schema of every landing file: lineage columns, the
// record's key, change time and delete flag, and the record itself as JSON
// (custom attributes keep their JSON types).
var LandingSchema = arrow.NewSchema([]arrow.Field{
	{Name: "_run_id", Type: arrow.BinaryTypes.String},
	{Name: "_extracted_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "id", Type: arrow.BinaryTypes.String},
	{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "is_deleted", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "record", Type: arrow.BinaryTypes.String},
}, nil)

// rowGroupRows bounds memory: rows are flushed to a row group once this
// many are buffered, whatever the page size.
const rowGroupRows = 8192

// Landing writes one object's delta of one run as Parquet files under
// dir/source=S/object=O/run=R/. Files are written under a temporary name,
// synced and renamed, so a reader never sees a partial file.
type Landing struct {
	dir, runID  string
	extractedAt time.Time
	tmp, final  string
	f           *os.File
	w           *pqarrow.FileWriter
	b           *array.RecordBuilder
	buffered    int
	rows        int64
}

// NewLanding prepares a landing file for system/object in run runID.
func NewLanding(root, system, object, runID string, extractedAt time.Time) (*Landing, error) {
	dir := filepath.Join(root, "source="+system, "object="+object, "run="+runID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create landing dir: %w", err)
	}
	final := filepath.Join(dir, "part-00000.parquet")
	tmp := final + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("create landing file: %w", err)
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithMaxRowGroupLength(rowGroupRows), parquet.WithDictionaryDefault(false))
	w, err := pqarrow.NewFileWriter(LandingSchema, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	return &Landing{dir: dir, runID: runID, extractedAt: extractedAt, tmp: tmp, final: final, f: f, w: w,
		b: array.NewRecordBuilder(memory.DefaultAllocator, LandingSchema)}, nil
}

// Write appends rows, flushing a row group whenever enough are buffered.
func (l *Landing) Write(rows []Row) error {
	ts := arrow.Timestamp(l.extractedAt.UnixMicro())
	for _, r := range rows {
		l.b.Field(0).(*array.StringBuilder).Append(l.runID)
		l.b.Field(1).(*array.TimestampBuilder).Append(ts)
		l.b.Field(2).(*array.StringBuilder).Append(r.ID)
		l.b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(r.UpdatedAt.UnixMicro()))
		l.b.Field(4).(*array.BooleanBuilder).Append(r.Deleted)
		l.b.Field(5).(*array.StringBuilder).Append(string(r.Record))
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

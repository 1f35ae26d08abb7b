// Package parquetbench compares the two candidate Parquet landing writers,
// arrow-go's pqarrow (through extract.Landing, the writer ferry uses) and
// github.com/xitongsys/parquet-go, on 1,000,000 contact rows: rows per
// second, file size and peak heap. `make bench-parquet` runs it; the figures
// and the choice are in docs/decisions.md.
package parquetbench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xitongsys/parquet-go-source/local"
	pq "github.com/xitongsys/parquet-go/parquet"
	"github.com/xitongsys/parquet-go/writer"

	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/extract"
	intercomextract "github.com/ferry-sync/ferry/extract/intercom"
)

const rows = 1_000_000

// contactJSON renders seed contact i roughly as Intercom sends it.
func contactJSON(p seed.Person) []byte {
	return fmt.Appendf(nil, `{"type":"contact","id":%q,"role":%q,"email":%q,"external_id":%q,"name":%q,"phone":%q,"created_at":%d,"updated_at":%d,"custom_attributes":{"job_title":%q,"lead_score":%d,"ltv":%g,"vip":%t,"trial_ends":%d}}`,
		p.ID, p.Role, p.Email, p.ExternalID, p.Name, p.Phone, p.CreatedAt.Unix(), p.UpdatedAt.Unix(),
		p.Custom["job_title"], p.Custom["lead_score"], p.Custom["ltv"], p.Custom["vip"], p.Custom["trial_ends"])
}

// peakHeap samples the live heap until stop is closed.
func peakHeap(stop <-chan struct{}) *atomic.Uint64 {
	var peak atomic.Uint64
	go func() {
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return &peak
}

func measure(b *testing.B, write func(dir string, next func() (extract.Row, bool)) string) {
	ds := seed.New(seed.Params{Seed: 1, Scale: rows})
	for b.Loop() {
		dir := b.TempDir()
		runtime.GC()
		stop := make(chan struct{})
		peak := peakHeap(stop)
		pull, done := iterPull(ds)
		start := time.Now()
		path := write(dir, pull)
		elapsed := time.Since(start)
		done()
		close(stop)
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	}
}

func iterPull(ds *seed.Dataset) (func() (extract.Row, bool), func()) {
	ch := make(chan extract.Row, 1024)
	var wg sync.WaitGroup
	quit := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ch)
		for p := range ds.Contacts() {
			select {
			case ch <- extract.Row{ID: p.ID, UpdatedAt: p.UpdatedAt, Record: contactJSON(p)}:
			case <-quit:
				return
			}
		}
	}()
	return func() (extract.Row, bool) { r, ok := <-ch; return r, ok }, func() { close(quit); wg.Wait() }
}

// BenchmarkPQArrow writes through extract.Landing, in pages of 150 rows as
// contact search delivers them.
func BenchmarkPQArrow(b *testing.B) {
	measure(b, func(dir string, next func() (extract.Row, bool)) string {
		l, err := extract.NewLanding(dir, "intercom", "contacts", "bench", time.Now(), intercomextract.Documented("contacts"))
		if err != nil {
			b.Fatal(err)
		}
		page := make([]extract.Row, 0, 150)
		for {
			r, ok := next()
			if ok {
				page = append(page, r)
			}
			if len(page) == 150 || (!ok && len(page) > 0) {
				if err := l.Write(page); err != nil {
					b.Fatal(err)
				}
				page = page[:0]
			}
			if !ok {
				break
			}
		}
		path, err := l.Commit()
		if err != nil {
			b.Fatal(err)
		}
		return path
	})
}

type landingRow struct {
	RunID       string `parquet:"name=_run_id, type=BYTE_ARRAY, convertedtype=UTF8"`
	ExtractedAt int64  `parquet:"name=_extracted_at, type=INT64, convertedtype=TIMESTAMP_MICROS"`
	ID          string `parquet:"name=id, type=BYTE_ARRAY, convertedtype=UTF8"`
	UpdatedAt   int64  `parquet:"name=updated_at, type=INT64, convertedtype=TIMESTAMP_MICROS"`
	IsDeleted   bool   `parquet:"name=is_deleted, type=BOOLEAN"`
	Record      string `parquet:"name=record, type=BYTE_ARRAY, convertedtype=UTF8"`
}

// BenchmarkXitongsys writes the same rows with xitongsys/parquet-go, same
// codec (zstd), row groups of about 8 MiB (its size unit is bytes).
func BenchmarkXitongsys(b *testing.B) {
	measure(b, func(dir string, next func() (extract.Row, bool)) string {
		path := filepath.Join(dir, "part-00000.parquet")
		fw, err := local.NewLocalFileWriter(path)
		if err != nil {
			b.Fatal(err)
		}
		pw, err := writer.NewParquetWriter(fw, new(landingRow), 2)
		if err != nil {
			b.Fatal(err)
		}
		pw.CompressionType = pq.CompressionCodec_ZSTD
		pw.RowGroupSize = 8 << 20
		now := time.Now().UnixMicro()
		for {
			r, ok := next()
			if !ok {
				break
			}
			if err := pw.Write(landingRow{RunID: "bench", ExtractedAt: now, ID: r.ID, UpdatedAt: r.UpdatedAt.UnixMicro(), Record: string(r.Record)}); err != nil {
				b.Fatal(err)
			}
		}
		if err := pw.WriteStop(); err != nil {
			b.Fatal(err)
		}
		fw.Close()
		return path
	})
}

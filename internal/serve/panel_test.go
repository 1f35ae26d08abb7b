package serve

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-sync/ferry/internal/duck"
	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/internal/testenv"
	"github.com/ferry-sync/ferry/models"
)

var (
	panelScale = flag.Int("panel.scale", 100_000, "Intercom contacts in BenchmarkPanel's warehouse")
	panelData  = flag.String("panel.data", "", "BenchmarkPanel's data dir, kept: its warehouse is built only when missing (default a temporary one)")
)

// BenchmarkPanel builds a warehouse of -panel.scale contacts from the
// emulators (extract and models; a first sync), then times a Refresh
// (reporting the snapshot's size) and views' lookups of 1,000 sampled
// contacts.
//
//	go test ./internal/serve -run '^$' -bench BenchmarkPanel -benchtime 3x -panel.scale 100000
func BenchmarkPanel(b *testing.B) {
	data := *panelData
	if data == "" {
		data = b.TempDir()
	}
	warehouse := filepath.Join(data, "warehouse.duckdb")
	built := filepath.Join(data, "panel-bench-built") // a run that failed half-way leaves a warehouse too
	if _, err := os.Stat(built); err != nil {
		emu := testenv.StartEmulators(b, testenv.EmulatorOptions{Scale: *panelScale, RateLimit: 1_000_000})
		opt := runner.Options{Command: "run", Pipeline: testenv.Pipeline(b, emu.Env(nil)), DataDir: data, Models: models.FS, ModelsRoot: "models"}
		sum, err := runner.Run(b.Context(), opt, runner.Extract|runner.Transform)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("warehouse of %d contacts built: %v", *panelScale, sum.Stages)
		if err := os.WriteFile(built, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}

	var ids []string
	{
		db, err := duck.Open(warehouse + "?access_mode=read_only")
		if err != nil {
			b.Fatal(err)
		}
		rows, err := db.Query("SELECT intercom_id FROM stg_intercom__contacts USING SAMPLE 1000 ROWS")
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		db.Close()
	}

	b.Run("refresh", func(b *testing.B) {
		for b.Loop() {
			p := &Panel{Dir: b.TempDir()}
			if err := p.Refresh(b.Context(), warehouse); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if fi, err := os.Stat(p.cur.path); err == nil {
				b.ReportMetric(float64(fi.Size())/(1<<20), "snapshot-MiB")
			}
			b.ReportMetric(float64(p.cur.people), "people")
			p.Close()
			b.StartTimer()
		}
	})

	b.Run("lookup", func(b *testing.B) {
		p := &Panel{Dir: b.TempDir()}
		if err := p.Refresh(b.Context(), warehouse); err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		// An iteration views each sampled contact once.
		for b.Loop() {
			for _, id := range ids {
				pr, err := p.lookup(b.Context(), id)
				if err != nil {
					b.Fatal(err)
				}
				if pr == nil {
					b.Fatalf("sampled contact %s not in the snapshot", id)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/lookup")
	})
}

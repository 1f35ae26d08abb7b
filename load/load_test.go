package load_test

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/ferry-sync/ferry/internal/state"
	"github.com/ferry-sync/ferry/load"
)

// The syncs the tests plan: their outbound views are tables here.
var (
	upsertSync = load.SyncSource("ups", "salesforce", "upsert")
	createSync = load.SyncSource("creates", "intercom", "create")
)

// emptyModels creates the tests' syncs' outbound views, without rows.
var emptyModels = []string{
	`CREATE TABLE main.sync__ups (object VARCHAR, key VARCHAR, alt VARCHAR, field VARCHAR, value VARCHAR, type VARCHAR, creates BOOLEAN)`,
	`CREATE TABLE main.sync__creates (object VARCHAR, key VARCHAR, alt VARCHAR, field VARCHAR, value VARCHAR, type VARCHAR, creates BOOLEAN)`,
	`CREATE TABLE main.identity_ambiguous (id VARCHAR)`,
}

// models opens a fresh data dir whose outbound models are empty.
func models(tb testing.TB) *state.Store {
	tb.Helper()
	st, err := state.Open(tb.Context(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	for _, q := range emptyModels {
		if _, err := st.DB.ExecContext(tb.Context(), q); err != nil {
			tb.Fatal(err)
		}
	}
	return st
}

// upserts appends recs to the upsert sync's view, one row per field, in the
// order given, plus rows the plan must drop (no key, no field).
func upserts(t *testing.T, db *sql.DB, recs []load.Record) {
	t.Helper()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "main", "sync__ups")
		if err != nil {
			return err
		}
		for _, r := range recs {
			for _, c := range r.Fields {
				var v driver.Value
				if c.Value != nil {
					v = *c.Value
				}
				if err := a.AppendRow(r.Object, r.Key, r.Alt, c.Field, v, c.Type, nil); err != nil {
					a.Close()
					return err
				}
			}
		}
		if err := a.AppendRow("Lead", nil, "Intercom_Id__c", "LastName", "no key", "string", nil); err != nil {
			a.Close()
			return err
		}
		if err := a.AppendRow("Lead", "no-field", "Intercom_Id__c", nil, "no field", "string", nil); err != nil {
			a.Close()
			return err
		}
		return a.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// plannedUpserts returns n records over Contact and Lead, with one to
// four fields each (some null), keyed in no particular order (most keys
// are both a Contact's and a Lead's), and the same records as the plan
// must yield them: ordered by object and key, fields ordered by name.
func plannedUpserts(n int) (inserted, want []load.Record) {
	fields := []string{"Title", "Email", "LastName", "Company"}
	for i := range n {
		base := (i * 7919) % n // a permutation of 0..n-1 when n and 7919 are coprime
		r := load.Record{Object: "Contact", Key: fmt.Sprintf("k%05d", base/2), Alt: "Ferry_Id__c"}
		if base%2 == 1 {
			r.Object, r.Alt = "Lead", "Intercom_Id__c"
		}
		if base%7 == 0 {
			r.Key += "-x" // sorts after its prefix
		}
		for j := range 1 + (i/2)%len(fields) {
			c := load.Change{Field: fields[j], Type: "string"}
			if j != 2 || i%5 != 0 {
				v := fmt.Sprintf("%s %d", fields[j], i)
				c.Value = &v
			}
			r.Fields = append(r.Fields, c)
		}
		inserted = append(inserted, r)
	}
	for _, r := range inserted {
		r.Fields = slices.Clone(r.Fields)
		slices.SortFunc(r.Fields, func(a, b load.Change) int { return strings.Compare(a.Field, b.Field) })
		want = append(want, r)
	}
	slices.SortFunc(want, func(a, b load.Record) int {
		return strings.Compare(a.Object+"\x00"+a.Key, b.Object+"\x00"+b.Key)
	})
	return inserted, want
}

func sameRecord(a, b load.Record) bool {
	if a.Object != b.Object || a.Key != b.Key || a.Alt != b.Alt || len(a.Fields) != len(b.Fields) {
		return false
	}
	for i, c := range a.Fields {
		d := b.Fields[i]
		if c.Field != d.Field || c.Type != d.Type || (c.Value == nil) != (d.Value == nil) || (c.Value != nil && *c.Value != *d.Value) {
			return false
		}
	}
	return true
}

// TestPlan_Chunks reads a few thousand planned records in chunks of
// several sizes, for all objects and for one: every record comes once, in
// order of object and key, with all its fields, in chunks of ChunkSize
// records but the last.
func TestPlan_Chunks(t *testing.T) {
	t.Parallel()
	db := models(t).DB
	inserted, want := plannedUpserts(3000)
	upserts(t, db, inserted)
	plan, err := load.ReadPlan(t.Context(), db, upsertSync, createSync)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	if got := plan.Count(upsertSync, ""); got != len(want) {
		t.Fatalf("plan counts %d records, want %d", got, len(want))
	}
	if got := plan.Objects(upsertSync); !slices.Equal(got, []string{"Contact", "Lead"}) {
		t.Fatalf("objects %v, want [Contact Lead]", got)
	}
	for _, size := range []int{7, 1000, len(want) - 1, len(want), load.DefaultChunkSize} {
		for _, object := range []string{"", "Contact", "Lead"} {
			t.Run(fmt.Sprintf("size=%d/object=%s", size, object), func(t *testing.T) {
				var wantObj []load.Record
				for _, r := range want {
					if object == "" || r.Object == object {
						wantObj = append(wantObj, r)
					}
				}
				plan.ChunkSize = size
				var got []load.Record
				chunks := 0
				for recs, err := range plan.Chunks(t.Context(), upsertSync, object) {
					if err != nil {
						t.Fatal(err)
					}
					chunks++
					if len(recs) != size && len(got)+len(recs) != len(wantObj) {
						t.Fatalf("chunk %d has %d records, want %d (only the last may have fewer)", chunks, len(recs), size)
					}
					got = append(got, recs...)
				}
				if wantChunks := (len(wantObj) + size - 1) / size; chunks != wantChunks {
					t.Errorf("%d chunks, want %d", chunks, wantChunks)
				}
				if len(got) != len(wantObj) {
					t.Fatalf("got %d records, want %d", len(got), len(wantObj))
				}
				for i := range got {
					if !sameRecord(got[i], wantObj[i]) {
						t.Fatalf("record %d: got %+v, want %+v", i, got[i], wantObj[i])
					}
				}
			})
		}
	}
	t.Run("other source", func(t *testing.T) {
		for recs, err := range plan.Chunks(t.Context(), createSync, "") {
			t.Fatalf("empty source yielded %v, %v", recs, err)
		}
	})
	t.Run("unknown object", func(t *testing.T) {
		for recs, err := range plan.Chunks(t.Context(), upsertSync, "Case") {
			t.Fatalf("unknown object yielded %v, %v", recs, err)
		}
	})
	t.Run("fields", func(t *testing.T) {
		got, err := plan.Fields(t.Context(), upsertSync, "Contact")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if want := []string{"Company", "Email", "Ferry_Id__c", "LastName", "Title"}; !slices.Equal(got, want) {
			t.Errorf("fields %v, want %v", got, want)
		}
	})
}

// TestPlan_Close releases the plan: reading it afterwards fails rather
// than yielding nothing, and closing twice is harmless.
func TestPlan_Close(t *testing.T) {
	t.Parallel()
	db := models(t).DB
	inserted, _ := plannedUpserts(10)
	upserts(t, db, inserted)
	plan, err := load.ReadPlan(t.Context(), db, upsertSync, createSync)
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Close(); err != nil {
		t.Fatal(err)
	}
	if err := plan.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	var got error
	for _, err := range plan.Chunks(t.Context(), upsertSync, "") {
		got = err
	}
	if got == nil {
		t.Error("Chunks after Close yielded no error")
	}
	if plan.Count(upsertSync, "") != 10 {
		t.Errorf("counts after Close %d, want 10", plan.Count(upsertSync, ""))
	}
}

// benchModels fills the upsert sync's view with n records of four fields, 60 %
// Contacts and 40 % Leads, keyed by ids in no particular order.
func benchModels(b *testing.B, n int) *state.Store {
	st := models(b)
	_, err := st.DB.ExecContext(b.Context(), `INSERT INTO main.sync__ups
SELECT CASE WHEN i % 5 < 3 THEN 'Contact' ELSE 'Lead' END, substr(md5(i::VARCHAR), 1, 18), 'Intercom_Id__c', f, f || ' ' || i, 'string', NULL
FROM range($1) AS r(i), (VALUES ('Email'), ('LastName'), ('Company'), ('Title')) AS fs(f)`, n)
	if err != nil {
		b.Fatal(err)
	}
	// Cap DuckDB as the runner does by default.
	if err := st.LimitMemory(b.Context(), b.TempDir(), "512MB"); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkPlanChunks reads a plan of Salesforce upserts object by object,
// as the load does, DefaultChunkSize records at a time: one op is ReadPlan
// and the full read.
func BenchmarkPlanChunks(b *testing.B) {
	for _, n := range []int{100_000, 300_000, 1_000_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			db := benchModels(b, n).DB
			chunks := 0
			var readPlan time.Duration
			for b.Loop() {
				start := time.Now()
				plan, err := load.ReadPlan(b.Context(), db, upsertSync, createSync)
				if err != nil {
					b.Fatal(err)
				}
				readPlan += time.Since(start)
				records := 0
				for _, obj := range plan.Objects(upsertSync) {
					for recs, err := range plan.Chunks(b.Context(), upsertSync, obj) {
						if err != nil {
							b.Fatal(err)
						}
						chunks++
						records += len(recs)
					}
				}
				if records != n {
					b.Fatalf("read %d records, want %d", records, n)
				}
				if err := plan.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((b.Elapsed()-readPlan).Milliseconds())/float64(chunks), "ms/chunk")
			b.ReportMetric(float64(readPlan.Milliseconds())/float64(b.N), "ms-readplan/op")
		})
	}
}

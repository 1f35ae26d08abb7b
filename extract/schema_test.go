package extract_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/extract"
	"github.com/ferry-sync/ferry/internal/duck"
)

// TestLanding_TypedColumns: values land in typed columns, nested fields
// under dotted names, lists as VARCHAR[]; whatever no column reads is kept
// in _unmapped; a value of the wrong type is refused, naming record and
// field.
func TestLanding_TypedColumns(t *testing.T) {
	t.Parallel()
	cols := []extract.Column{
		extract.Col("seats", extract.Integer), extract.Col("arr", extract.Number), extract.Col("vip", extract.Boolean),
		extract.Col("seen_at", extract.Timestamp), extract.Col("CloseDate", extract.Date), extract.Col("custom_attributes.plan", extract.String),
		{Name: "tag_ids", Type: extract.List, Path: []string{"tags", "data", "*", "id"}},
		extract.Col("Id", extract.String), // a lineage name: landed once, as id
	}
	l, err := extract.NewLanding(t.TempDir(), "intercom", "contacts", "r1", time.Now(), cols)
	if err != nil {
		t.Fatal(err)
	}
	rec := `{"Id": "c1", "seats": 12, "arr": "1500.5", "vip": true, "seen_at": 1767225600, "CloseDate": "2026-03-01",
		"custom_attributes": {"plan": "pro", "colour": "teal"}, "tags": {"data": [{"id": "7"}, {"id": "9"}]}, "extra": {"k": 1}}`
	if err := l.Write([]extract.Row{{ID: "c1", UpdatedAt: time.Unix(1767225600, 0), Record: []byte(rec)}}); err != nil {
		t.Fatal(err)
	}
	file, err := l.Commit()
	if err != nil {
		t.Fatal(err)
	}
	db, _ := duck.Open("")
	defer db.Close()
	var seats int64
	var arr float64
	var vip bool
	var plan, tags, closeDate, unmapped, seen string
	err = db.QueryRow(`SELECT seats, arr, vip, "custom_attributes.plan", CAST(tag_ids AS VARCHAR), CAST("CloseDate" AS VARCHAR),
		CAST(seen_at AS VARCHAR), _unmapped FROM read_parquet($1)`, file).Scan(&seats, &arr, &vip, &plan, &tags, &closeDate, &seen, &unmapped)
	if err != nil {
		t.Fatal(err)
	}
	if seats != 12 || arr != 1500.5 || !vip || plan != "pro" || tags != "[7, 9]" || closeDate != "2026-03-01" || seen != "2026-01-01 00:00:00+00" {
		t.Errorf("typed values: seats %d arr %v vip %v plan %q tags %s close %s seen %s", seats, arr, vip, plan, tags, closeDate, seen)
	}
	if unmapped != `{"custom_attributes":{"colour":"teal"},"extra":{"k":1}}` {
		t.Errorf("_unmapped = %s", unmapped)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM (DESCRIBE SELECT * FROM read_parquet($1)) WHERE lower(column_name) = 'id'`, file).Scan(&n)
	if n != 1 {
		t.Errorf("%d id columns, want the lineage one only", n)
	}

	bad, _ := extract.NewLanding(t.TempDir(), "intercom", "contacts", "r2", time.Now(), cols)
	defer bad.Abort()
	err = bad.Write([]extract.Row{{ID: "c2", Record: []byte(`{"seats": "twelve"}`)}})
	if err == nil || !strings.Contains(err.Error(), `record c2: field seats: "twelve" is not an integer`) {
		t.Errorf("a wrong type: err = %v, want the record and field named", err)
	}
}

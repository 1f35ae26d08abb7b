package salesforceapi_test

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/salesforceapi"
)

// TestCSVBuilder_SplitsUnderLimit fills bodies the way the Bulk sink does
// and checks that no body passes the limit, that every body is a header
// plus whole rows, and that every row that fits lands in exactly one body,
// in order.
func TestCSVBuilder_SplitsUnderLimit(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(1, 2))
	header := []string{"Intercom_Id__c", "LastName", "Description"}
	const limit = 700
	var want, oversize [][]string
	b := salesforceapi.NewCSVBuilder(header, limit)
	var bodies [][]byte
	flush := func() {
		if b.Rows() > 0 {
			bodies = append(bodies, bytes.Clone(b.Bytes()))
		}
		b.Reset()
	}
	for i := range 500 {
		// Quotes, commas and newlines make the encoded size differ from
		// the raw one; a few rows are larger than the limit by themselves.
		desc := strings.Repeat("a,\"b\"\n", rnd.IntN(40))
		if i%97 == 0 {
			desc = strings.Repeat("x", limit)
		}
		key, name := "ic-"+strings.Repeat("9", i%7), "Doe"
		row := []*string{&key, &name, &desc}
		line := salesforceapi.EncodeCSVRow(row)
		if !b.Add(line) {
			flush()
			if !b.Add(line) {
				oversize = append(oversize, []string{key, name, desc})
				continue
			}
		}
		want = append(want, []string{key, name, desc})
	}
	flush()
	if len(oversize) != 6 {
		t.Fatalf("%d rows refused as oversize, want the 6 that are", len(oversize))
	}
	if len(bodies) < 10 {
		t.Fatalf("only %d bodies: the test does not exercise splitting", len(bodies))
	}
	var got [][]string
	for i, body := range bodies {
		if len(body) > limit {
			t.Fatalf("body %d is %d bytes, over the %d limit", i, len(body), limit)
		}
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("body %d is not whole CSV rows: %v", i, err)
		}
		if !slices.Equal(rows[0], header) {
			t.Fatalf("body %d starts with %v, want the header", i, rows[0])
		}
		got = append(got, rows[1:]...)
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("rows across bodies differ from the rows added (%d vs %d)", len(got), len(want))
	}
}

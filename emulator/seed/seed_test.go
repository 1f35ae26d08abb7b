package seed

import (
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
)

func digest(d *Dataset) string {
	h := fnv.New64a()
	for c := range d.Companies() {
		fmt.Fprintf(h, "%+v", c)
	}
	for p := range d.Contacts() {
		fmt.Fprintf(h, "%v|%v|%v|%v|%v", p.ID, p.Email, p.Role, p.UpdatedAt, p.Custom)
	}
	for r := range d.SalesforceRecords() {
		fmt.Fprintf(h, "%v|%v|%v", r.ID, r.Fields, r.SystemModstamp)
	}
	return fmt.Sprintf("%x", h.Sum64())
}

func TestDataset_Deterministic(t *testing.T) {
	t.Parallel()
	a, b := digest(New(Params{Seed: 5, Scale: 500})), digest(New(Params{Seed: 5, Scale: 500}))
	if a != b {
		t.Fatalf("same params, different data: %s vs %s", a, b)
	}
	if digest(New(Params{Seed: 6, Scale: 500})) == a {
		t.Fatal("different seeds gave the same data")
	}
}

// TestDataset_HasTheMess checks the seed holds every case the sync must handle.
func TestDataset_HasTheMess(t *testing.T) {
	t.Parallel()
	d := New(Params{Seed: 1, Scale: 2000})
	count := map[string]int{}
	ic := map[string]bool{}
	for p := range d.Contacts() {
		switch {
		case p.Role == "user" && p.Email == "":
			count["user without email"]++
		case p.Role == "lead" && p.Email == "":
			count["anonymous lead"]++
		case p.Email != strings.TrimSpace(p.Email):
			count["email with whitespace"]++
		}
		if p.Email != "" {
			ic[strings.ToLower(strings.TrimSpace(p.Email))] = true
		}
		for _, v := range p.Custom {
			count[fmt.Sprintf("custom %T", v)]++
		}
	}
	leadsByEmail := map[string]int{}
	domains := map[string]int{}
	for r := range d.SalesforceRecords() {
		email, _ := r.Fields["Email"].(string)
		switch r.Object {
		case "Lead":
			leadsByEmail[strings.ToLower(email)]++
			if c, _ := r.Fields["IsConverted"].(bool); c {
				count["converted lead"]++
			}
		case "Contact":
			if ic[strings.ToLower(email)] {
				count["contact matching an intercom user"]++
			}
			if email != strings.ToLower(email) && ic[strings.ToLower(email)] {
				count["case difference"]++
			}
		case "Account":
			w, _ := r.Fields["Website"].(string)
			w = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(w, "https://"), "http://"), "www."), "/")
			domains[w]++
		}
	}
	for _, n := range leadsByEmail {
		if n > 1 {
			count["two leads one email"]++
		}
	}
	for _, n := range domains {
		if n > 1 {
			count["two accounts one domain"]++
		}
	}
	for c := range d.Companies() {
		if c.CompanyID == "" {
			count["company without company_id"]++
		}
	}
	for _, want := range []string{"user without email", "anonymous lead", "email with whitespace", "converted lead", "contact matching an intercom user",
		"case difference", "two leads one email", "two accounts one domain", "company without company_id",
		"custom string", "custom int", "custom float64", "custom bool", "custom int64"} {
		if count[want] == 0 {
			t.Errorf("seed has no %q case (counts: %v)", want, count)
		}
	}
}

func TestSFID_Checksum(t *testing.T) {
	t.Parallel()
	// Salesforce's documented example: 001A0000006Vm9r -> 001A0000006Vm9rIAC.
	id := "001A0000006Vm9r"
	const suffix = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	var out []byte
	for c := 0; c < 3; c++ {
		flags := 0
		for j := 0; j < 5; j++ {
			if ch := id[c*5+j]; ch >= 'A' && ch <= 'Z' {
				flags |= 1 << j
			}
		}
		out = append(out, suffix[flags])
	}
	if string(out) != "IAC" {
		t.Fatalf("checksum of %s = %s, want IAC", id, out)
	}
	if got := SFID("003", 42); len(got) != 18 || !strings.HasPrefix(got, "003") {
		t.Fatalf("SFID = %s", got)
	}
}

// BenchmarkGenerate measures streaming generation; `-bench Generate
// -benchtime 1x` with SCALE 1,000,000 is the figure in the README.
func BenchmarkGenerate(b *testing.B) {
	for _, scale := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprint(scale), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := New(Params{Seed: 1, Scale: scale})
				n := 0
				for range d.Contacts() {
					n++
				}
				for range d.SalesforceRecords() {
					n++
				}
				for range d.Companies() {
					n++
				}
				b.ReportMetric(float64(n), "records/op")
			}
		})
	}
}

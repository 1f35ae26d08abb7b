package transform_test

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ferry-sync/ferry/internal/testenv"
	"github.com/ferry-sync/ferry/transform"
)

// TestSelect: a name, a glob, model+ (what depends on it), +model (what
// it reads), and both; an unknown name is an error.
func TestSelect(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"stg_a.sql": {Data: []byte("SELECT 1 AS x")},
		"stg_b.sql": {Data: []byte("SELECT 2 AS x")},
		"mid.sql":   {Data: []byte("SELECT * FROM stg_a UNION ALL SELECT * FROM stg_b")},
		"mart.sql":  {Data: []byte("SELECT * FROM mid")},
		"other.sql": {Data: []byte("SELECT * FROM stg_b")},
	}
	ms, err := transform.Load(fsys, "models")
	if err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]string{
		"mid":          "mid",
		"mid+":         "mart,mid",
		"+mid":         "mid,stg_a,stg_b",
		"+mid+":        "mart,mid,stg_a,stg_b",
		"stg_*":        "stg_a,stg_b",
		"stg_a+,other": "mart,mid,other,stg_a",
	} {
		got, err := transform.Select(ms, spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		var names []string
		for n := range got {
			names = append(names, n)
		}
		sort.Strings(names)
		if strings.Join(names, ",") != want {
			t.Errorf("--select %s = %v, want %s", spec, names, want)
		}
	}
	if _, err := transform.Select(ms, "nope+"); err == nil || !strings.Contains(err.Error(), `no model matches "nope"`) {
		t.Errorf("unknown model: err = %v", err)
	}
}

// TestBuild_Only builds the selected models in full and keeps the others
// as published: a selected model reads the published rows of one left out.
// A model left out that was never built fails the build.
func TestBuild_Only(t *testing.T) {
	t.Parallel()
	st := testenv.OpenStore(t, t.TempDir())
	load := func(a string) []transform.Model {
		ms, err := transform.Load(fstest.MapFS{
			"a.sql": {Data: []byte(a)},
			"b.sql": {Data: []byte("SELECT x + 1 AS y FROM a")},
		}, "models")
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	read := func() []int {
		var x, y int
		if err := st.DB.QueryRow("SELECT (SELECT x FROM main.a), (SELECT y FROM main.b)").Scan(&x, &y); err != nil {
			t.Fatal(err)
		}
		return []int{x, y}
	}
	if err := transform.Build(t.Context(), st.DB, load("SELECT 1 AS x"), transform.BuildOptions{Only: map[string]bool{"b": true}}); err == nil || !strings.Contains(err.Error(), "never built") {
		t.Fatalf("a selection leaving out a model never built: err = %v", err)
	}
	if err := transform.Build(t.Context(), st.DB, load("SELECT 1 AS x"), transform.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	edited := load("SELECT 5 AS x")
	if err := transform.Build(t.Context(), st.DB, edited, transform.BuildOptions{Only: map[string]bool{"b": true}}); err != nil {
		t.Fatal(err)
	}
	if got := read(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("after --select b: a, b = %v, want [1 2] (a kept as built)", got)
	}
	only, err := transform.Select(edited, "a+")
	if err != nil {
		t.Fatal(err)
	}
	if err := transform.Build(t.Context(), st.DB, edited, transform.BuildOptions{Only: only}); err != nil {
		t.Fatal(err)
	}
	if got := read(); !slices.Equal(got, []int{5, 6}) {
		t.Fatalf("after --select a+: a, b = %v, want [5 6]", got)
	}
}

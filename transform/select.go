package transform

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// Select returns the models a selection names. A selection is a
// comma-separated list of model names or globs (path.Match), each taking a
// + after it for the models that depend on it, directly or not, and a +
// before it for the models it reads: `account_health+`, `+sf_updates`,
// `+stg_*+`.
func Select(models []Model, spec string) (map[string]bool, error) {
	up := map[string][]string{}   // model -> the models it reads
	down := map[string][]string{} // model -> the models reading it
	var names []string
	for _, m := range models {
		names = append(names, m.Name)
		up[m.Name] = m.DependsOn
		for _, d := range m.DependsOn {
			down[d] = append(down[d], m.Name)
		}
	}
	sort.Strings(names)
	out := map[string]bool{}
	walk := func(start string, next map[string][]string) {
		stack := []string{start}
		seen := map[string]bool{}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[n] {
				continue
			}
			seen[n] = true
			out[n] = true
			stack = append(stack, next[n]...)
		}
	}
	for _, term := range strings.Split(spec, ",") {
		term = strings.TrimSpace(term)
		ancestors, descendants := strings.HasPrefix(term, "+"), strings.HasSuffix(term, "+")
		pattern := strings.Trim(term, "+")
		if pattern == "" {
			return nil, fmt.Errorf("--select: empty term in %q", spec)
		}
		var matched []string
		for _, n := range names {
			if ok, err := path.Match(pattern, n); err != nil {
				return nil, fmt.Errorf("--select: %q: %v", pattern, err)
			} else if ok {
				matched = append(matched, n)
			}
		}
		if len(matched) == 0 {
			return nil, fmt.Errorf("--select: no model matches %q (ferry models lists them)", pattern)
		}
		for _, n := range matched {
			out[n] = true
			if ancestors {
				walk(n, up)
			}
			if descendants {
				walk(n, down)
			}
		}
	}
	return out, nil
}

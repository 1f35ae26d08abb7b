package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/transform"
)

// modelNode is one model of `ferry models`: what it reads and what reads
// it, the syncs among them.
type modelNode struct {
	Name         string   `json:"name"`
	Path         string   `json:"path"`
	Materialized string   `json:"materialized"`
	Reads        []string `json:"reads"`
	ReadBy       []string `json:"read_by"`
	Syncs        []string `json:"syncs,omitempty"` // the syncs whose model it is
	Tests        int      `json:"tests"`
}

func modelsCmd(ctx context.Context, e *env, args []string) error {
	var p pipelineFlags
	var output string
	fs := newFlagSet("models", "Print the models in build order, each with the models it reads, the models and syncs that read it, and its tests.\n--select prints only the models it names (model+ adds what depends on it, +model what it reads).", e.stdout)
	p.register(fs)
	p.registerSelect(fs, "print only these models")
	fs.StringVar(&output, "output", "text", "text or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(output); err != nil {
		return err
	}
	opt, err := p.options(e, "models")
	if err != nil {
		return err
	}
	models, err := runner.Models(opt)
	if err != nil {
		return err
	}
	var only map[string]bool
	if p.selection != "" {
		if only, err = transform.Select(models, p.selection); err != nil {
			return &usageError{msg: err.Error()}
		}
	}
	readBy := map[string][]string{}
	for _, m := range models {
		for _, d := range m.DependsOn {
			readBy[d] = append(readBy[d], m.Name)
		}
	}
	syncs := map[string][]string{}
	for _, s := range opt.Pipeline.Syncs {
		syncs[s.ModelName()] = append(syncs[s.ModelName()], s.Name)
	}
	var nodes []modelNode
	for _, m := range models {
		if only != nil && !only[m.Name] {
			continue
		}
		rb := readBy[m.Name]
		sort.Strings(rb)
		nodes = append(nodes, modelNode{Name: m.Name, Path: m.Path, Materialized: m.Materialized, Reads: nonNil(m.DependsOn), ReadBy: nonNil(rb), Syncs: syncs[m.Name], Tests: len(m.Tests)})
	}
	if output == "json" {
		return writeJSON(e.stdout, nodes)
	}
	for _, n := range nodes {
		fmt.Fprintf(e.stdout, "%s (%s)\n", n.Name, n.Materialized)
		if len(n.Reads) > 0 {
			fmt.Fprintf(e.stdout, "  reads   %s\n", strings.Join(n.Reads, ", "))
		}
		if len(n.ReadBy) > 0 {
			fmt.Fprintf(e.stdout, "  read by %s\n", strings.Join(n.ReadBy, ", "))
		}
		if len(n.Syncs) > 0 {
			fmt.Fprintf(e.stdout, "  synced  %s\n", strings.Join(n.Syncs, ", "))
		}
		if n.Tests > 0 {
			fmt.Fprintf(e.stdout, "  tests   %d in its header\n", n.Tests)
		}
	}
	fmt.Fprintf(e.stdout, "%d models\n", len(nodes))
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

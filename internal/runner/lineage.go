package runner

import (
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ferry-sync/ferry/internal/lineage"
	"github.com/ferry-sync/ferry/transform"
)

// A run's OpenLineage datasets (Options.Lineage): it reads the objects it
// extracts (namespace intercom://<host> or salesforce://<host>, name the
// object) or, with no extraction, the current-state tables its models read;
// it writes landing files (namespace file, the object's landing directory),
// the models it builds (namespace duckdb:<warehouse file>, name
// main.<model>) and the target objects it wrote.

// jobName is the OpenLineage job of a command on a pipeline file:
// intercom_salesforce.run.
func (r *run) jobName() string {
	base := strings.TrimSuffix(filepath.Base(r.opt.Pipeline.Path), filepath.Ext(r.opt.Pipeline.Path))
	if base == "" || base == "." {
		base = "pipeline"
	}
	return base + "." + r.opt.Command
}

// systemNamespace is where a system's objects live: its API's host.
func (r *run) systemNamespace(system string) string {
	c := r.opt.Pipeline.Connections
	raw := c.Intercom.BaseURL
	if system == "salesforce" {
		raw = c.Salesforce.InstanceURL
		if raw == "" {
			raw = c.Salesforce.LoginURL
		}
	} else if raw == "" {
		raw = "https://api.intercom.io"
	}
	host := raw
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		host = u.Host
	}
	return system + "://" + host
}

func (r *run) warehouseNamespace() string {
	p, err := filepath.Abs(filepath.Join(r.opt.DataDir, "warehouse.duckdb"))
	if err != nil {
		p = filepath.Join(r.opt.DataDir, "warehouse.duckdb")
	}
	return "duckdb:" + p
}

// lineageDatasets are the datasets the run read and wrote.
func (r *run) lineageDatasets() (inputs, outputs []lineage.Dataset) {
	seen := map[*[]lineage.Dataset]map[lineage.Dataset]bool{&inputs: {}, &outputs: {}}
	add := func(list *[]lineage.Dataset, d lineage.Dataset) {
		if !seen[list][d] {
			seen[list][d] = true
			*list = append(*list, d)
		}
	}
	for _, res := range r.results {
		add(&inputs, lineage.Dataset{Namespace: r.systemNamespace(res.System), Name: res.Object})
	}
	if len(r.results) == 0 && len(r.modelDur) > 0 {
		for _, o := range transform.Objects() {
			add(&inputs, lineage.Dataset{Namespace: r.warehouseNamespace(), Name: "raw." + o.Table})
		}
	}
	for _, l := range r.landed {
		dir, err := filepath.Abs(filepath.Dir(l.file))
		if err != nil {
			dir = filepath.Dir(l.file)
		}
		add(&outputs, lineage.Dataset{Namespace: "file", Name: dir})
	}
	models := make([]string, 0, len(r.modelDur))
	for m := range r.modelDur {
		models = append(models, m)
	}
	sort.Strings(models)
	for _, m := range models {
		add(&outputs, lineage.Dataset{Namespace: r.warehouseNamespace(), Name: "main." + m})
	}
	written := make([]string, 0, len(r.sum.Written))
	for k := range r.sum.Written {
		written = append(written, k)
	}
	sort.Strings(written)
	for _, k := range written {
		if f := strings.Fields(k); len(f) == 3 && r.sum.Written[k] > 0 {
			add(&outputs, lineage.Dataset{Namespace: r.systemNamespace(f[0]), Name: f[1]})
		}
	}
	return inputs, outputs
}

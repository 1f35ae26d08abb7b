package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/ferry-sync/ferry/internal/cli"
	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/runner"
	"github.com/ferry-sync/ferry/internal/testenv"
	"github.com/ferry-sync/ferry/models"
	"github.com/ferry-sync/ferry/transform"
)

// pyFacts parses a Python file with Python's own parser (ast) and returns
// its top-level literal assignments, the string literals anywhere in it,
// and each call's function name with its literal keyword arguments.
const pyFacts = `
import ast, json, sys
tree = ast.parse(open(sys.argv[1]).read(), sys.argv[1])
out = {"assign": {}, "strings": [], "calls": [], "imports": []}
for node in tree.body:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        try:
            out["assign"][node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            pass
for node in ast.walk(tree):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        out["strings"].append(node.value)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        out["imports"] += [a.name for a in node.names]
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        kw = {}
        for k in node.keywords:
            try:
                kw[k.arg] = ast.literal_eval(k.value)
            except ValueError:
                kw[k.arg] = None
        out["calls"].append({"name": name, "kw": kw})
json.dump(out, sys.stdout)
`

type pyFile struct {
	Assign  map[string]any `json:"assign"`
	Strings []string       `json:"strings"`
	Imports []string       `json:"imports"`
	Calls   []struct {
		Name string         `json:"name"`
		KW   map[string]any `json:"kw"`
	} `json:"calls"`
}

func parsePy(t *testing.T, path string) pyFile {
	t.Helper()
	out, err := exec.Command("python3", "-c", pyFacts, path).Output()
	if err != nil {
		t.Fatalf("python3 cannot parse %s: %v", path, err)
	}
	var f pyFile
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// acceptsArgs checks that ferry takes args (its flags and command) by
// asking for help with them: an unknown flag or command is a usage error.
func acceptsArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) > 0 && args[0] == "ferry" {
		args = args[1:]
	}
	var out, errb bytes.Buffer
	if code := cli.Run(context.Background(), append(slices.Clone(args), "--help"), &out, &errb, testenv.Env(nil)); code != cli.ExitOK {
		t.Errorf("%s: ferry does not take %q: exit %d\n%s", where, args, code, errb.String())
	}
}

// TestOrchestratorExamples checks docs/orchestrators against ferry itself:
// the Airflow DAG (parsed by Python), the Dagster definition (its assets
// and checks are the ones ferry reports for the example pipeline), the
// Kubernetes CronJob (parsed as YAML), and the Dockerfile (built with the
// Makefile's command; `make image` builds the image where a container
// builder runs).
func TestOrchestratorExamples(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testenv.Root(), "docs", "orchestrators")

	dag := parsePy(t, filepath.Join(dir, "airflow_dag.py"))
	operators := map[string]bool{}
	for _, c := range dag.Calls {
		switch c.Name {
		case "DAG":
			if c.KW["max_active_runs"] != float64(1) {
				t.Errorf("the DAG must run one sync at a time: max_active_runs %v", c.KW["max_active_runs"])
			}
		case "BashOperator":
			operators[c.Name] = true
			if c.KW["skip_on_exit_code"] != float64(99) {
				t.Errorf("BashOperator skip_on_exit_code %v, want 99 (ferry's --idle-exit-code)", c.KW["skip_on_exit_code"])
			}
			cmd, _ := c.KW["bash_command"].(string)
			acceptsArgs(t, "airflow BashOperator", strings.Fields(cmd))
			if !strings.Contains(cmd, "--idle-exit-code 99") {
				t.Errorf("the bash command does not ask for exit 99 when idle: %q", cmd)
			}
		case "KubernetesPodOperator":
			operators[c.Name] = true
			args, _ := c.KW["arguments"].([]any)
			var s []string
			for _, a := range args {
				s = append(s, a.(string))
			}
			acceptsArgs(t, "airflow KubernetesPodOperator", s)
			if c.KW["skip_on_exit_code"] != float64(99) {
				t.Errorf("KubernetesPodOperator skip_on_exit_code %v, want 99", c.KW["skip_on_exit_code"])
			}
		}
	}
	if !operators["BashOperator"] || !operators["KubernetesPodOperator"] {
		t.Errorf("the DAG lacks an operator: %v", operators)
	}
	if !slices.ContainsFunc(dag.Strings, func(s string) bool { return strings.Contains(s, "lineage_parent_id(task_instance)") }) {
		t.Error("the DAG does not pass the task's OpenLineage parent id")
	}

	// Dagster: the assets and checks it declares are what ferry reports.
	dg := parsePy(t, filepath.Join(dir, "dagster_assets.py"))
	if !slices.Contains(dg.Imports, "PipesSubprocessClient") {
		t.Error("the Dagster example does not use PipesSubprocessClient")
	}
	p, err := config.Load(pipelinePath(), testenv.Env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for sys, objs := range map[string][]string{"intercom": keysOf(p.Extract.Intercom), "salesforce": keysOf(p.Extract.Salesforce)} {
		for _, o := range objs {
			want = append(want, runner.AssetKey(sys, o))
		}
	}
	for _, pair := range dg.Assign["EXTRACTED"].([]any) {
		l := pair.([]any)
		got = append(got, runner.AssetKey(l[0].(string), l[1].(string)))
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("the Dagster assets %v are not the objects the example pipeline extracts %v", got, want)
	}
	opt := runner.Options{Pipeline: p, Models: models.FS, ModelsRoot: "models"}
	ms, err := runner.Models(opt)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := transform.LoadTests(models.FS, "models", transform.PipelineVars(p), ms)
	if err != nil {
		t.Fatal(err)
	}
	checks := dg.Assign["CHECKS"].(map[string]any)
	for _, m := range dg.Assign["MODELS"].([]any) {
		var wantChecks, gotChecks []string
		for _, tt := range tests {
			if tt.Model == m {
				wantChecks = append(wantChecks, runner.CheckName(tt.Name))
			}
		}
		for _, c := range checks[m.(string)].([]any) {
			gotChecks = append(gotChecks, c.(string))
		}
		sort.Strings(wantChecks)
		sort.Strings(gotChecks)
		if len(wantChecks) == 0 || !slices.Equal(gotChecks, wantChecks) {
			t.Errorf("model %s: the Dagster checks %v are not ferry's tests %v", m, gotChecks, wantChecks)
		}
	}
	if pl, _ := dg.Assign["PIPELINE"].(string); filepath.Base(pl) != filepath.Base(pipelinePath()) {
		t.Errorf("the Dagster example runs pipeline %q, not the example one", pl)
	}

	// Kubernetes: a CronJob running one sync at a time on a volume.
	b, err := os.ReadFile(filepath.Join(dir, "k8s-cronjob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cron struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Schedule          string `yaml:"schedule"`
			ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
			JobTemplate       struct {
				Spec struct {
					Template struct {
						Spec struct {
							RestartPolicy string `yaml:"restartPolicy"`
							Containers    []struct {
								Args         []string `yaml:"args"`
								VolumeMounts []struct {
									MountPath string `yaml:"mountPath"`
								} `yaml:"volumeMounts"`
							} `yaml:"containers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			} `yaml:"jobTemplate"`
		} `yaml:"spec"`
	}
	doc, _, _ := strings.Cut(string(b), "\n---\n")
	if err := yaml.Unmarshal([]byte(doc), &cron); err != nil {
		t.Fatalf("k8s-cronjob.yaml: %v", err)
	}
	pod := cron.Spec.JobTemplate.Spec.Template.Spec
	switch {
	case cron.Kind != "CronJob" || !regexp.MustCompile(`^\S+ \S+ \S+ \S+ \S+$`).MatchString(cron.Spec.Schedule):
		t.Errorf("not a CronJob with a schedule: %+v", cron)
	case cron.Spec.ConcurrencyPolicy != "Forbid" || pod.RestartPolicy != "Never" || len(pod.Containers) != 1:
		t.Errorf("the CronJob must forbid overlapping runs and not restart a failed one in place: %+v", cron.Spec)
	default:
		c := pod.Containers[0]
		acceptsArgs(t, "k8s CronJob", c.Args)
		dataDir := c.Args[slices.Index(c.Args, "--data-dir")+1]
		if !slices.ContainsFunc(c.VolumeMounts, func(m struct {
			MountPath string `yaml:"mountPath"`
		}) bool {
			return m.MountPath == dataDir
		}) {
			t.Errorf("the data dir %s is not on a volume: %+v", dataDir, c.VolumeMounts)
		}
	}

	// The Dockerfile builds ferry with the Makefile's command, and its
	// default command is one ferry takes.
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^RUN make build\b`).Match(df) {
		t.Error("the Dockerfile does not build with `make build`")
	}
	if m := regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindSubmatch(df); m == nil {
		t.Error("the Dockerfile has no CMD")
	} else {
		var cmd []string
		if err := json.Unmarshal(m[1], &cmd); err != nil {
			t.Fatal(err)
		}
		acceptsArgs(t, "Dockerfile CMD", cmd)
	}

}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

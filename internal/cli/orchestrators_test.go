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

// airflowTasks runs an Airflow DAG file with stand-ins for the Airflow
// classes it imports (DAG, KubernetesPodOperator) that record each task's
// keyword arguments and dependencies, and returns them by task id.
const airflowTasks = `
import json, sys, types
tasks, dags = {}, []
class DAG:
    def __init__(self, **kw): dags.append(kw)
    def __enter__(self): return self
    def __exit__(self, *a): return False
class Op:
    def __init__(self, **kw):
        self.kw, self.upstream = kw, []
        tasks[kw["task_id"]] = self
    def __rshift__(self, other):
        for o in (other if isinstance(other, list) else [other]):
            o.upstream.append(self.kw["task_id"])
        return other
    def __rrshift__(self, other):
        for o in (other if isinstance(other, list) else [other]):
            self.upstream.append(o.kw["task_id"])
        return self
for name in ["airflow", "airflow.providers", "airflow.providers.cncf", "airflow.providers.cncf.kubernetes",
             "airflow.providers.cncf.kubernetes.operators", "airflow.providers.cncf.kubernetes.operators.pod"]:
    sys.modules[name] = types.ModuleType(name)
sys.modules["airflow"].DAG = DAG
sys.modules["airflow.providers.cncf.kubernetes.operators.pod"].KubernetesPodOperator = Op
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), {"__name__": "dag"})
json.dump({"dags": dags, "tasks": {k: {"kw": {a: b for a, b in v.kw.items() if isinstance(b, (str, int, list))}, "upstream": v.upstream} for k, v in tasks.items()}}, sys.stdout, default=str)
`

// TestOrchestratorExamples_ObjectStorage checks the examples that keep the
// data dir on S3: a Kubernetes CronJob, and an Airflow DAG whose
// extraction workers fan out before one merge.
func TestOrchestratorExamples_ObjectStorage(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testenv.Root(), "docs", "orchestrators")
	out, err := exec.Command("python3", "-c", airflowTasks, filepath.Join(dir, "airflow_fanout_dag.py")).Output()
	if err != nil {
		t.Fatalf("run the fan-out DAG with stand-in operators: %v", err)
	}
	var dag struct {
		DAGs  []map[string]any `json:"dags"`
		Tasks map[string]struct {
			KW       map[string]any `json:"kw"`
			Upstream []string       `json:"upstream"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(out, &dag); err != nil {
		t.Fatal(err)
	}
	if len(dag.DAGs) != 1 || dag.DAGs[0]["max_active_runs"] != float64(1) {
		t.Errorf("the fan-out DAG must run one sync at a time: %v", dag.DAGs)
	}
	args := func(id string) []string {
		var s []string
		for _, a := range dag.Tasks[id].KW["arguments"].([]any) {
			s = append(s, a.(string))
		}
		return s
	}
	flag := func(a []string, name string) string {
		if i := slices.Index(a, name); i >= 0 && i+1 < len(a) {
			return a[i+1]
		}
		return ""
	}
	var merge string
	var workers []string
	for id := range dag.Tasks {
		a := args(id)
		acceptsArgs(t, "airflow fan-out "+id, a)
		switch {
		case a[0] == "extract" && slices.Contains(a, "--hand-off"):
			workers = append(workers, id)
		case a[0] == "run" && slices.Contains(a, "--hand-offs"):
			merge = id
		default:
			t.Errorf("task %s is neither a worker nor the merge: %v", id, a)
		}
	}
	sort.Strings(workers)
	up := slices.Clone(dag.Tasks[merge].Upstream)
	sort.Strings(up)
	if merge == "" || len(workers) < 2 || !slices.Equal(up, workers) {
		t.Fatalf("the merge %q must follow every worker %v (it follows %v)", merge, workers, up)
	}
	url := flag(args(merge), "--data-dir")
	if !strings.HasPrefix(url, "s3://") {
		t.Errorf("the merge's data dir %q is not on object storage", url)
	}
	p, err := config.Load(pipelinePath(), testenv.Env(nil))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]int{}
	for _, w := range workers {
		if d := flag(args(w), "--data-dir"); d != url {
			t.Errorf("worker %s hands off to %q, the merge reads %q", w, d, url)
		}
		for _, o := range strings.Split(flag(args(w), "--object"), ",") {
			covered[o]++
		}
	}
	for sys, objs := range map[string][]string{"intercom": keysOf(p.Extract.Intercom), "salesforce": keysOf(p.Extract.Salesforce)} {
		for _, o := range objs {
			if covered[sys+"."+o] != 1 {
				t.Errorf("%s.%s, which the example pipeline extracts, is extracted by %d workers", sys, o, covered[sys+"."+o])
			}
		}
	}
	if kw := dag.Tasks[merge].KW; kw["skip_on_exit_code"] != float64(99) || flag(args(merge), "--idle-exit-code") != "99" || kw["trigger_rule"] != "all_done" {
		t.Errorf("the merge must skip when idle (99) and run after failed workers too: %v", kw)
	}

	b, err := os.ReadFile(filepath.Join(dir, "k8s-cronjob-s3.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cron struct {
		Spec struct {
			ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
			JobTemplate       struct {
				Spec struct {
					Template struct {
						Spec struct {
							Containers []struct {
								Args         []string `yaml:"args"`
								VolumeMounts []struct {
									Name      string `yaml:"name"`
									MountPath string `yaml:"mountPath"`
								} `yaml:"volumeMounts"`
							} `yaml:"containers"`
							Volumes []struct {
								Name     string         `yaml:"name"`
								EmptyDir map[string]any `yaml:"emptyDir"`
							} `yaml:"volumes"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			} `yaml:"jobTemplate"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &cron); err != nil {
		t.Fatalf("k8s-cronjob-s3.yaml: %v", err)
	}
	pod := cron.Spec.JobTemplate.Spec.Template.Spec
	if len(pod.Containers) != 1 || cron.Spec.ConcurrencyPolicy != "Forbid" {
		t.Fatalf("k8s-cronjob-s3.yaml: %+v", cron)
	}
	c := pod.Containers[0]
	acceptsArgs(t, "k8s CronJob on S3", c.Args)
	if !strings.HasPrefix(flag(c.Args, "--data-dir"), "s3://") {
		t.Errorf("the CronJob's data dir %q is not on object storage", flag(c.Args, "--data-dir"))
	}
	cache := flag(c.Args, "--cache-dir")
	if !slices.ContainsFunc(c.VolumeMounts, func(m struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	}) bool {
		return m.MountPath == cache
	}) || len(pod.Volumes) != 1 || pod.Volumes[0].EmptyDir == nil {
		t.Errorf("the cache %q is not on scratch space (an emptyDir): %+v", cache, pod)
	}
}

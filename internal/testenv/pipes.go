package testenv

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// PipesMessage is a Dagster Pipes message as read back by a test.
type PipesMessage struct {
	Method string
	Params map[string]any
}

// pipesParams are the keys each method's params must have, exactly, per
// the protocol (dagster_pipes/__init__.py and the community schemas:
// every key present, null where a value does not apply).
var pipesParams = map[string][]string{
	"opened":                       {"extras"},
	"log":                          {"level", "message"},
	"report_asset_materialization": {"asset_key", "data_version", "metadata"},
	"report_asset_check":           {"asset_key", "check_name", "metadata", "passed", "severity"},
	"report_custom_message":        {"payload"},
}

var pipesMetadataTypes = []string{"__infer__", "text", "url", "path", "notebook", "json", "md", "float", "int", "bool", "dagster_run", "asset", "null", "table", "table_schema", "table_column_lineage", "timestamp"}

// ParsePipesMessages reads a Pipes message stream (one JSON object per
// line; other lines are ignored, as Dagster's log readers forward them)
// and checks each message against the protocol's shapes: the version
// field, a known method, exactly its params keys, typed metadata values,
// a known severity and log level, opened first and closed last, and a
// closed exception's five keys.
func ParsePipesMessages(stream string) ([]PipesMessage, error) {
	var out []PipesMessage
	for i, line := range strings.Split(stream, "\n") {
		if !strings.Contains(line, "__dagster_pipes_version") {
			continue
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			return nil, fmt.Errorf("line %d: not JSON: %v", i+1, err)
		}
		if len(raw) != 3 {
			return nil, fmt.Errorf("line %d: want the keys __dagster_pipes_version, method, params; got %d keys", i+1, len(raw))
		}
		var version, method string
		if json.Unmarshal(raw["__dagster_pipes_version"], &version) != nil || version != "0.1" {
			return nil, fmt.Errorf("line %d: __dagster_pipes_version %s, want \"0.1\"", i+1, raw["__dagster_pipes_version"])
		}
		if json.Unmarshal(raw["method"], &method) != nil {
			return nil, fmt.Errorf("line %d: method is not a string", i+1)
		}
		var params map[string]any
		if err := json.Unmarshal(raw["params"], &params); err != nil {
			return nil, fmt.Errorf("line %d: params: %v", i+1, err)
		}
		keys := make([]string, 0, len(params))
		for k := range params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		switch want, ok := pipesParams[method]; {
		case method == "closed":
			if len(keys) > 1 || len(keys) == 1 && keys[0] != "exception" {
				return nil, fmt.Errorf("line %d: closed takes {} or {exception}, got %v", i+1, keys)
			}
			if e, ok := params["exception"].(map[string]any); ok {
				for _, k := range []string{"name", "message", "stack", "cause", "context"} {
					if _, ok := e[k]; !ok {
						return nil, fmt.Errorf("line %d: the exception lacks %s", i+1, k)
					}
				}
			}
		case !ok:
			return nil, fmt.Errorf("line %d: unknown method %q", i+1, method)
		case !slices.Equal(keys, want):
			return nil, fmt.Errorf("line %d: %s params %v, want exactly %v", i+1, method, keys, want)
		}
		if md, ok := params["metadata"].(map[string]any); ok {
			for k, v := range md {
				m, ok := v.(map[string]any)
				if !ok || len(m) != 2 {
					return nil, fmt.Errorf("line %d: metadata %s is not {raw_value, type}", i+1, k)
				}
				if _, ok := m["raw_value"]; !ok || !slices.Contains(pipesMetadataTypes, fmt.Sprint(m["type"])) {
					return nil, fmt.Errorf("line %d: metadata %s: %v", i+1, k, m)
				}
			}
		}
		if method == "report_asset_check" && params["severity"] != "ERROR" && params["severity"] != "WARN" {
			return nil, fmt.Errorf("line %d: severity %v", i+1, params["severity"])
		}
		if method == "log" && !slices.Contains([]string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, fmt.Sprint(params["level"])) {
			return nil, fmt.Errorf("line %d: log level %v", i+1, params["level"])
		}
		out = append(out, PipesMessage{Method: method, Params: params})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Pipes message")
	}
	if out[0].Method != "opened" || out[len(out)-1].Method != "closed" {
		return nil, fmt.Errorf("messages run from %s to %s, want opened first and closed last", out[0].Method, out[len(out)-1].Method)
	}
	for _, m := range out[1 : len(out)-1] {
		if m.Method == "opened" || m.Method == "closed" {
			return nil, fmt.Errorf("a second %s", m.Method)
		}
	}
	return out, nil
}

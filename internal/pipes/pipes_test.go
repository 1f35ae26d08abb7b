package pipes_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/pipes"
	"github.com/ferry-sync/ferry/internal/testenv"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Without the bootstrap variables there is no session, and a nil session
// does nothing.
func TestOpen_OutsideDagster(t *testing.T) {
	var out bytes.Buffer
	s, err := pipes.Open(env(nil), &out, &out)
	if s != nil || err != nil {
		t.Fatalf("Open without the variables = %v, %v", s, err)
	}
	s.Log("INFO", "x")
	s.Materialize("a", nil)
	s.Check("a", "c", true, "ERROR", nil)
	if err := s.Close(errors.New("x")); err != nil || out.Len() != 0 {
		t.Fatalf("a nil session wrote %q, %v", out.String(), err)
	}
	if _, err := pipes.Open(env(map[string]string{pipes.ContextEnv: pipes.EncodeParam(map[string]any{"data": map[string]any{}})}), &out, &out); err == nil {
		t.Fatal("a context without a messages channel must be refused")
	}
}

// The file channel with a context file: opened first, the asset keys the
// context names only, checks, logs, closed last with the exception, each
// message in the protocol's shape.
func TestSession_FileChannel(t *testing.T) {
	dir := t.TempDir()
	ctxFile, msgFile := filepath.Join(dir, "context.json"), filepath.Join(dir, "messages")
	if err := os.WriteFile(ctxFile, []byte(`{"asset_keys": ["intercom/contacts", "warehouse/account_health"], "run_id": "r1", "retry_number": 0, "extras": {"k": 1}, "job_name": null}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := pipes.Open(env(map[string]string{
		pipes.ContextEnv:  pipes.EncodeParam(map[string]any{"path": ctxFile}),
		pipes.MessagesEnv: pipes.EncodeParam(map[string]any{"path": msgFile}),
	}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Context.RunID != "r1" || len(s.Context.AssetKeys) != 2 {
		t.Fatalf("context %+v", s.Context)
	}
	s.Log("INFO", "extract finished")
	s.Materialize("intercom/contacts", map[string]pipes.Meta{"rows": pipes.Int(3), "watermark": pipes.Text("2026-11-22T00:00:00Z")})
	s.Materialize("intercom/contacts", nil) // once per key
	s.Materialize("salesforce/Lead", nil)   // not asked for
	s.Check("warehouse/account_health", "unique_account_id", false, "ERROR", map[string]pipes.Meta{"failures": pipes.Int(2)})
	if err := s.Close(errors.New("boom")); err != nil {
		t.Fatal(err)
	}
	s.Log("INFO", "after closed") // dropped
	b, err := os.ReadFile(msgFile)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := testenv.ParsePipesMessages(string(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	var methods []string
	for _, m := range msgs {
		methods = append(methods, m.Method)
	}
	if got := strings.Join(methods, ","); got != "opened,log,report_asset_materialization,report_asset_check,closed" {
		t.Fatalf("methods %s", got)
	}
	if e := msgs[4].Params["exception"].(map[string]any); e["message"] != "boom" {
		t.Fatalf("closed %v", msgs[4].Params)
	}
}

// The stderr channel with inline context data, and buffered_stdio, which
// writes nothing until the session closes.
func TestSession_Streams(t *testing.T) {
	data := pipes.EncodeParam(map[string]any{"data": map[string]any{"run_id": "r", "retry_number": 0, "extras": map[string]any{}, "asset_keys": nil}})
	var out, errs bytes.Buffer
	s, err := pipes.Open(env(map[string]string{pipes.ContextEnv: data, pipes.MessagesEnv: pipes.EncodeParam(map[string]any{"stdio": "stderr"})}), &out, &errs)
	if err != nil {
		t.Fatal(err)
	}
	s.Materialize("any/key", nil) // no asset keys named: any goes
	s.Close(nil)
	if out.Len() != 0 {
		t.Fatalf("stdout got %q", out.String())
	}
	msgs, err := testenv.ParsePipesMessages(errs.String())
	if err != nil || len(msgs) != 3 || len(msgs[2].Params) != 0 {
		t.Fatalf("stderr messages %v, %v:\n%s", msgs, err, errs.String())
	}
	out.Reset()
	s, err = pipes.Open(env(map[string]string{pipes.ContextEnv: data, pipes.MessagesEnv: pipes.EncodeParam(map[string]any{"buffered_stdio": "stdout"})}), &out, &errs)
	if err != nil {
		t.Fatal(err)
	}
	s.Log("WARNING", "w")
	if out.Len() != 0 {
		t.Fatalf("buffered_stdio wrote before closing: %q", out.String())
	}
	s.Close(nil)
	if msgs, err := testenv.ParsePipesMessages(out.String()); err != nil || len(msgs) != 3 {
		t.Fatalf("buffered messages %v, %v", msgs, err)
	}
}

// Package pipes speaks the Dagster Pipes protocol from the external
// process's side, so that Dagster can run ferry as an asset and see what
// it did. Dagster starts the process with two environment variables,
// DAGSTER_PIPES_CONTEXT and DAGSTER_PIPES_MESSAGES, each holding
// base64(zlib(JSON)) parameters: where to read the run's context (a file,
// "path", or inline, "data") and where to write messages (a file to
// append to, "path", or a stream, "stdio": "stderr" or "stdout";
// "buffered_stdio" holds them until the end). A message is one JSON line,
// {"__dagster_pipes_version": "0.1", "method": ..., "params": ...};
// "opened" comes first and "closed" last. Without the variables Open
// returns nil, and every method of a nil Session does nothing.
package pipes

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
)

// The bootstrap variables and the protocol's version.
const (
	ContextEnv  = "DAGSTER_PIPES_CONTEXT"
	MessagesEnv = "DAGSTER_PIPES_MESSAGES"
	Version     = "0.1"
)

// Context is the run's context as Dagster sends it: the asset keys the
// step materializes (nil when Dagster names none) and the user's extras.
type Context struct {
	AssetKeys    []string       `json:"asset_keys"`
	RunID        string         `json:"run_id"`
	JobName      *string        `json:"job_name"`
	RetryNumber  int            `json:"retry_number"`
	PartitionKey *string        `json:"partition_key"`
	Extras       map[string]any `json:"extras"`
}

// Session is an open Pipes connection. Its methods may be called from
// several goroutines; after Close they do nothing.
type Session struct {
	Context Context

	mu       sync.Mutex
	w        io.Writer     // a stream, or nil for a file
	path     string        // the message file, when messages go to one
	buffered *bytes.Buffer // buffered_stdio: written at Close
	closed   bool
	err      error // the first write error, reported once
	reported map[string]bool
}

// Open starts a session when getenv has the bootstrap variables, and sends
// "opened". stdout and stderr are the process's streams, for "stdio".
func Open(getenv func(string) string, stdout, stderr io.Writer) (*Session, error) {
	ctxParam, msgParam := getenv(ContextEnv), getenv(MessagesEnv)
	if ctxParam == "" {
		return nil, nil
	}
	if msgParam == "" {
		return nil, fmt.Errorf("dagster pipes: %s is set but %s is not", ContextEnv, MessagesEnv)
	}
	var cp struct {
		Path string          `json:"path"`
		Data json.RawMessage `json:"data"`
	}
	if err := decodeParam(ctxParam, &cp); err != nil {
		return nil, fmt.Errorf("dagster pipes: %s: %w", ContextEnv, err)
	}
	var mp struct {
		Path          string `json:"path"`
		Stdio         string `json:"stdio"`
		BufferedStdio string `json:"buffered_stdio"`
	}
	if err := decodeParam(msgParam, &mp); err != nil {
		return nil, fmt.Errorf("dagster pipes: %s: %w", MessagesEnv, err)
	}
	s := &Session{reported: map[string]bool{}}
	data := []byte(cp.Data)
	switch {
	case cp.Path != "":
		b, err := os.ReadFile(cp.Path)
		if err != nil {
			return nil, fmt.Errorf("dagster pipes: read the context: %w", err)
		}
		data = b
	case len(data) == 0:
		return nil, fmt.Errorf("dagster pipes: %s names neither a path nor data", ContextEnv)
	}
	if err := json.Unmarshal(data, &s.Context); err != nil {
		return nil, fmt.Errorf("dagster pipes: the context: %w", err)
	}
	stream := func(name string) (io.Writer, error) {
		switch name {
		case "stdout":
			return stdout, nil
		case "stderr":
			return stderr, nil
		}
		return nil, fmt.Errorf("dagster pipes: %s: stdio must be stdout or stderr, got %q", MessagesEnv, name)
	}
	switch {
	case mp.Path != "":
		s.path = mp.Path
	case mp.Stdio != "":
		w, err := stream(mp.Stdio)
		if err != nil {
			return nil, err
		}
		s.w = w
	case mp.BufferedStdio != "":
		w, err := stream(mp.BufferedStdio)
		if err != nil {
			return nil, err
		}
		s.w, s.buffered = w, &bytes.Buffer{}
	default:
		return nil, fmt.Errorf("dagster pipes: %s names no path or stdio", MessagesEnv)
	}
	s.send("opened", map[string]any{"extras": map[string]any{}})
	return s, s.Err()
}

// decodeParam reads a bootstrap value: standard base64 of zlib of JSON.
func decodeParam(v string, into any) error {
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return fmt.Errorf("not base64: %w", err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("not zlib: %w", err)
	}
	defer zr.Close()
	b, err := io.ReadAll(zr)
	if err != nil {
		return fmt.Errorf("not zlib: %w", err)
	}
	return json.Unmarshal(b, into)
}

// EncodeParam is decodeParam's inverse, for tests and examples.
func EncodeParam(v any) string {
	b, _ := json.Marshal(v)
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// send writes one message; a write error is kept for Err and later
// messages are dropped (the run goes on: Dagster warns of what it lacks).
func (s *Session) send(method string, params any) {
	line, err := json.Marshal(map[string]any{"__dagster_pipes_version": Version, "method": method, "params": params})
	if err != nil {
		s.err = errors.Join(s.err, err)
		return
	}
	line = append(line, '\n')
	switch {
	case s.err != nil:
	case s.buffered != nil:
		s.buffered.Write(line)
	case s.w != nil:
		_, s.err = s.w.Write(line)
	default:
		f, err := os.OpenFile(s.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = f.Write(line)
			err = errors.Join(err, f.Close())
		}
		s.err = err
	}
}

// Err is the first error writing a message.
func (s *Session) Err() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Wanted reports whether Dagster asked for asset key, or named no keys.
func (s *Session) Wanted(key string) bool {
	return s != nil && (s.Context.AssetKeys == nil || slices.Contains(s.Context.AssetKeys, key))
}

// Log sends a log line; level is DEBUG, INFO, WARNING, ERROR or CRITICAL.
func (s *Session) Log(level, message string) {
	s.do(func() { s.send("log", map[string]any{"message": message, "level": level}) })
}

// Meta is a metadata value: {"raw_value": v, "type": t}.
type Meta struct {
	Value any    `json:"raw_value"`
	Type  string `json:"type"`
}

// Int, Float, Text and Timestamp (seconds since the epoch) are metadata
// values of those types.
func Int(v int64) Meta            { return Meta{v, "int"} }
func Float(v float64) Meta        { return Meta{v, "float"} }
func Text(v string) Meta          { return Meta{v, "text"} }
func Timestamp(secs float64) Meta { return Meta{secs, "timestamp"} }

// Materialize reports asset key materialized, once per key and only for
// keys Dagster asked for (or any, when it named none).
func (s *Session) Materialize(key string, metadata map[string]Meta) {
	s.do(func() {
		if !s.Wanted(key) || s.reported[key] {
			return
		}
		s.reported[key] = true
		s.send("report_asset_materialization", map[string]any{"asset_key": key, "data_version": nil, "metadata": metadata})
	})
}

// Check reports an asset check of key; a failed one at ERROR severity
// blocks what depends on the asset when the check is declared blocking.
func (s *Session) Check(key, check string, passed bool, severity string, metadata map[string]Meta) {
	s.do(func() {
		if !s.Wanted(key) {
			return
		}
		s.send("report_asset_check", map[string]any{"asset_key": key, "check_name": check, "passed": passed, "severity": severity, "metadata": metadata})
	})
}

// Close sends "closed", with runErr as the exception when the run failed,
// then writes what was buffered. The process must still exit non-zero on
// failure: Dagster judges the step by the exit code.
func (s *Session) Close(runErr error) error {
	if s == nil {
		return nil
	}
	s.do(func() {
		params := map[string]any{}
		if runErr != nil {
			params["exception"] = map[string]any{"name": "FerryError", "message": runErr.Error(), "stack": []string{}, "cause": nil, "context": nil}
		}
		s.send("closed", params)
		s.closed = true
		if s.buffered != nil && s.err == nil {
			_, s.err = s.w.Write(s.buffered.Bytes())
		}
	})
	return s.Err()
}

// do runs fn under the lock unless the session is nil or closed.
func (s *Session) do(fn func()) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	fn()
}

package objstore_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/objstore"
	"github.com/ferry-sync/ferry/internal/testenv"
)

func bucket(t *testing.T, s *testenv.S3, secret string) *objstore.Bucket {
	t.Helper()
	env := s.Env()
	env["AWS_SECRET_ACCESS_KEY"] = secret
	cfg, err := objstore.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	b, err := objstore.Open(cfg, s.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The operations ferry's data dir relies on, against a real S3-compatible
// server that checks Signature Version 4 and the conditions.
func TestBucket_ConditionalWritesListAndSignatures(t *testing.T) {
	s := testenv.StartS3(t)
	b := bucket(t, s, s.SecretKey)
	ctx := context.Background()
	// A key with characters the canonical request must encode.
	key := "pipe line/state/HE+AD=1"
	first, err := b.Put(ctx, key, []byte("one"), objstore.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := b.Put(ctx, key, []byte("two"), objstore.Cond{IfNoneMatch: true}); !errors.Is(err, objstore.ErrPrecondition) {
		t.Fatalf("second create of one key: got %v, want ErrPrecondition", err)
	}
	if _, err := b.Put(ctx, key, []byte("two"), objstore.Cond{IfMatch: `"0123456789abcdef0123456789abcdef"`}); !errors.Is(err, objstore.ErrPrecondition) {
		t.Fatalf("replace of a version that is not current: got %v, want ErrPrecondition", err)
	}
	second, err := b.Put(ctx, key, []byte("two"), objstore.Cond{IfMatch: first.ETag})
	if err != nil {
		t.Fatalf("replace of the current version: %v", err)
	}
	if second.ETag == first.ETag {
		t.Fatal("the replaced object kept its ETag")
	}
	rc, inf, err := b.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "two" || inf.ETag != second.ETag || inf.ServerTime.IsZero() {
		t.Fatalf("get: %q etag %s server time %v", got, inf.ETag, inf.ServerTime)
	}
	// A file, uploaded and downloaded whole.
	src := filepath.Join(t.TempDir(), "w.duckdb")
	data := strings.Repeat("ferry ", 300_000)
	os.WriteFile(src, []byte(data), 0o644)
	if _, err := b.PutFile(ctx, "pipe line/state/w.duckdb", src, objstore.Cond{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	if _, err := b.GetFile(ctx, "pipe line/state/w.duckdb", dst); err != nil {
		t.Fatal(err)
	}
	if back, _ := os.ReadFile(dst); string(back) != data {
		t.Fatalf("downloaded %d bytes, uploaded %d", len(back), len(data))
	}
	list, err := b.List(ctx, "pipe line/state/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != key || list[1].Size != int64(len(data)) {
		t.Fatalf("list: %+v", list)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Head(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("head of a deleted key: %v", err)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("delete of a missing key: %v", err)
	}
	// A wrong secret is refused: the server checks the signature.
	bad := bucket(t, s, "not-the-secret")
	if _, err := bad.Head(ctx, "pipe line/state/w.duckdb"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a request signed with the wrong secret: %v", err)
	}
	if _, err := bad.List(ctx, ""); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("a list signed with the wrong secret: %v", err)
	}
}

func TestParseURLAndEnv(t *testing.T) {
	for in, want := range map[string][2]string{
		"s3://b":             {"b", ""},
		"s3://b/":            {"b", ""},
		"s3://b/team/ferry/": {"b", "team/ferry"},
		"s3://b/team/ferry":  {"b", "team/ferry"},
	} {
		bk, p, err := objstore.ParseURL(in)
		if err != nil || bk != want[0] || p != want[1] {
			t.Errorf("ParseURL(%q) = %q, %q, %v", in, bk, p, err)
		}
	}
	for _, bad := range []string{"b/prefix", "s3://", "s3:///prefix"} {
		if _, _, err := objstore.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q): no error", bad)
		}
	}
	if _, err := objstore.FromEnv(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("no credentials: %v", err)
	}
	env := map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL_S3": "minio:9000"}
	if _, err := objstore.FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "AWS_ENDPOINT_URL_S3") {
		t.Errorf("an endpoint without a scheme: %v", err)
	}
}

// A file upload answered 503 is sent again whole; an empty one is not
// sent chunked (S3 wants a Content-Length).
func TestBucket_RetriesResendTheFile(t *testing.T) {
	var calls int
	var bodies []string
	var chunked bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls++
		if len(r.TransferEncoding) > 0 {
			chunked = true
		}
		bodies = append(bodies, string(b))
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<Error><Code>SlowDown</Code></Error>")
			return
		}
		w.Header().Set("ETag", `"x"`)
	}))
	defer srv.Close()
	env := map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL_S3": srv.URL}
	cfg, err := objstore.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	b, _ := objstore.Open(cfg, "bk")
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("the whole file"), 0o644)
	if _, err := b.PutFile(context.Background(), "k", src, objstore.Cond{}); err != nil {
		t.Fatalf("upload after a 503: %v", err)
	}
	if calls != 2 || bodies[1] != "the whole file" {
		t.Fatalf("%d attempts, bodies %q", calls, bodies)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o644)
	if _, err := b.PutFile(context.Background(), "e", empty, objstore.Cond{}); err != nil || chunked {
		t.Fatalf("empty upload: %v, chunked %v", err, chunked)
	}
}

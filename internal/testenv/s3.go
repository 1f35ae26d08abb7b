package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// S3 is a real S3-compatible server for tests: the Versity S3 Gateway
// (github.com/versity/versitygw, built into bin/ by `make tools`) serving
// a temporary directory, with one bucket.
type S3 struct {
	Endpoint, Bucket, AccessKey, SecretKey string
	Root                                   string // the directory it serves; <Root>/<Bucket> holds the objects
}

// Env is the AWS environment a client of the server reads.
func (s *S3) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":     s.AccessKey,
		"AWS_SECRET_ACCESS_KEY": s.SecretKey,
		"AWS_REGION":            "us-east-1",
		"AWS_ENDPOINT_URL_S3":   s.Endpoint,
	}
}

// URL is s3://<bucket>/<prefix>.
func (s *S3) URL(prefix string) string { return "s3://" + s.Bucket + "/" + prefix }

// S3Server is the gateway's binary: $FERRY_VERSITYGW, bin/versitygw, or
// versitygw on PATH.
func S3Server() (string, error) {
	if p := os.Getenv("FERRY_VERSITYGW"); p != "" {
		return p, nil
	}
	if p := filepath.Join(Root(), "bin", "versitygw"); fileExists(p) {
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no S3-compatible server: run `make tools` (it builds bin/versitygw)")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// StartS3 starts the gateway for the test, stopped when it ends.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	bin, err := S3Server()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	s := &S3{Bucket: "ferry-state", AccessKey: "ferrytest", SecretKey: "ferrytest-secret", Root: root}
	if err := os.Mkdir(filepath.Join(root, s.Bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--quiet", "--port", addr, "--access", s.AccessKey, "--secret", s.SecretKey, "posix", "--sidecar", t.TempDir(), root)
	log, err := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
	s.Endpoint = "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return s
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("the S3 server did not start on %s: %v\n%s", addr, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

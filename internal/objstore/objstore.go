// Package objstore is the small part of the Amazon S3 REST API ferry
// needs to keep a data dir on S3-compatible object storage: GET, HEAD,
// PUT (with the If-None-Match and If-Match conditions that make a lock
// and a compare-and-swap), DELETE and ListObjectsV2, signed with AWS
// Signature Version 4. Credentials and the endpoint come from the AWS
// SDKs' usual environment variables.
package objstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// ErrNotFound is a 404 (NoSuchKey, NoSuchBucket).
var ErrNotFound = errors.New("not found")

// ErrPrecondition is a conditional write refused: 412 PreconditionFailed.
var ErrPrecondition = errors.New("precondition failed")

// ErrConflict is 409 ConditionalRequestConflict: another conditional write
// to the key was in progress; S3 asks for a retry.
var ErrConflict = errors.New("conditional write conflict")

// Config is where a bucket is and how to sign for it.
type Config struct {
	// Endpoint is the server's base URL ("http://127.0.0.1:9000"); empty
	// for AWS itself (https://s3.<region>.amazonaws.com).
	Endpoint                    string
	Region                      string
	AccessKey, SecretKey, Token string
	HTTP                        *http.Client
	now                         func() time.Time
}

// FromEnv reads the AWS SDKs' environment variables: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (or
// AWS_DEFAULT_REGION; default us-east-1) and the endpoint of an
// S3-compatible server, AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL).
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		AccessKey: getenv("AWS_ACCESS_KEY_ID"),
		SecretKey: getenv("AWS_SECRET_ACCESS_KEY"),
		Token:     getenv("AWS_SESSION_TOKEN"),
		Region:    firstOf(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"), "us-east-1"),
		Endpoint:  strings.TrimRight(firstOf(getenv("AWS_ENDPOINT_URL_S3"), getenv("AWS_ENDPOINT_URL")), "/"),
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return c, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set for an s3:// data dir")
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("AWS_ENDPOINT_URL_S3 %q is not an http(s) URL", c.Endpoint)
		}
	}
	return c, nil
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Bucket is one bucket of a server.
type Bucket struct {
	cfg  Config
	name string
	// base is the URL objects are under: path style on a configured
	// endpoint (http://host/bucket), virtual-hosted on AWS.
	base *url.URL
}

// Open returns the bucket name of cfg's server.
func Open(cfg Config, name string) (*Bucket, error) {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Minute}
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	raw := "https://" + name + ".s3." + cfg.Region + ".amazonaws.com"
	switch {
	case cfg.Endpoint != "":
		raw = cfg.Endpoint + "/" + name
	case strings.Contains(name, "."):
		// A dotted name does not match the wildcard certificate of
		// virtual-hosted names: path style.
		raw = "https://s3." + cfg.Region + ".amazonaws.com/" + name
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bucket %q: %w", name, err)
	}
	return &Bucket{cfg: cfg, name: name, base: u}, nil
}

// Name is the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Info is what the server says of an object.
type Info struct {
	Key          string
	ETag         string
	Size         int64
	LastModified time.Time
	// ServerTime is the Date of the server's answer: lock expiry is
	// judged on the server's clock, not the worker's.
	ServerTime time.Time
}

// Cond is a conditional write's precondition.
type Cond struct {
	IfNoneMatch bool   // If-None-Match: * (create only)
	IfMatch     string // If-Match: <etag> (replace only that version)
}

// Get opens key's content; the caller closes it.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	resp, err := b.do(ctx, http.MethodGet, key, nil, nil, emptySHA, nil)
	if err != nil {
		return nil, Info{}, err
	}
	return resp.Body, info(key, resp), nil
}

// GetFile downloads key to path, through a temporary file renamed at the
// end, so path is never half-written.
func (b *Bucket) GetFile(ctx context.Context, key, path string) (Info, error) {
	body, inf, err := b.Get(ctx, key)
	if err != nil {
		return inf, err
	}
	defer body.Close()
	tmp := path + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return inf, err
	}
	n, err := io.Copy(f, body)
	if err == nil && inf.Size >= 0 && n != inf.Size {
		err = fmt.Errorf("got %d bytes of %d", n, inf.Size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return inf, fmt.Errorf("download s3://%s/%s: %w", b.name, key, err)
	}
	return inf, nil
}

// Head returns key's metadata.
func (b *Bucket) Head(ctx context.Context, key string) (Info, error) {
	resp, err := b.do(ctx, http.MethodHead, key, nil, nil, emptySHA, nil)
	if err != nil {
		return Info{}, err
	}
	resp.Body.Close()
	return info(key, resp), nil
}

// Put writes data to key under cond.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, cond Cond) (Info, error) {
	sum := sha256.Sum256(data)
	return b.put(ctx, key, func() io.Reader { return strings.NewReader(string(data)) }, int64(len(data)), hex.EncodeToString(sum[:]), cond)
}

// PutFile uploads the file at path to key (a single PUT: at most 5 GiB,
// S3's limit for one).
func (b *Bucket) PutFile(ctx context.Context, key, path string, cond Cond) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Info{}, fmt.Errorf("read %s: %w", path, err)
	}
	if n > 5<<30 {
		return Info{}, fmt.Errorf("upload %s: %d bytes is more than one S3 PUT takes (5 GiB)", path, n)
	}
	// A reader of its own per attempt: the transport closes a request's
	// body, and a retry must send the file from its start.
	open := func() io.Reader { return io.NewSectionReader(f, 0, n) }
	return b.put(ctx, key, open, n, hex.EncodeToString(h.Sum(nil)), cond)
}

func (b *Bucket) put(ctx context.Context, key string, body func() io.Reader, size int64, sha string, cond Cond) (Info, error) {
	hdr := http.Header{}
	if cond.IfNoneMatch {
		hdr.Set("If-None-Match", "*")
	}
	if cond.IfMatch != "" {
		hdr.Set("If-Match", cond.IfMatch)
	}
	resp, err := b.do(ctx, http.MethodPut, key, nil, hdr, sha, &payload{open: body, size: size})
	if err != nil {
		return Info{}, err
	}
	resp.Body.Close()
	return info(key, resp), nil
}

// Delete removes key (no error if it is gone already).
func (b *Bucket) Delete(ctx context.Context, key string) error {
	resp, err := b.do(ctx, http.MethodDelete, key, nil, nil, emptySHA, nil)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// List returns every object whose key starts with prefix, in key order.
func (b *Bucket) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	token := ""
	for {
		q := url.Values{"list-type": {"2"}, "prefix": {prefix}}
		if token != "" {
			q.Set("continuation-token", token)
		}
		resp, err := b.do(ctx, http.MethodGet, "", q, nil, emptySHA, nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Contents []struct {
				Key          string
				ETag         string
				Size         int64
				LastModified time.Time
			}
			IsTruncated           bool
			NextContinuationToken string
		}
		err = xml.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: malformed answer: %w", b.name, prefix, err)
		}
		for _, c := range page.Contents {
			out = append(out, Info{Key: c.Key, ETag: c.ETag, Size: c.Size, LastModified: c.LastModified})
		}
		if !page.IsTruncated || page.NextContinuationToken == "" {
			return out, nil
		}
		token = page.NextContinuationToken
	}
}

func info(key string, resp *http.Response) Info {
	i := Info{Key: key, ETag: resp.Header.Get("ETag"), Size: resp.ContentLength}
	i.LastModified, _ = http.ParseTime(resp.Header.Get("Last-Modified"))
	i.ServerTime, _ = http.ParseTime(resp.Header.Get("Date"))
	return i
}

// payload is a request body that can be sent again on a retry.
type payload struct {
	open func() io.Reader
	size int64
}

const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// do sends a signed request and turns an answer outside 2xx into an
// error. Requests are retried on network errors and 5xx answers, except
// conditional writes: a retried create could find its own first attempt
// and report a conflict that is not one.
func (b *Bucket) do(ctx context.Context, method, key string, q url.Values, hdr http.Header, sha string, body *payload) (*http.Response, error) {
	u := *b.base
	u.Path = b.base.Path + "/" + key
	if key == "" {
		u.Path = b.base.Path + "/"
	}
	u.RawQuery = canonicalQuery(q)
	conditional := hdr.Get("If-None-Match") != "" || hdr.Get("If-Match") != ""
	attempts := 4
	if conditional {
		attempts = 1
	}
	var last error
	for attempt := range attempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 200 * time.Millisecond):
			}
		}
		var r io.Reader
		if body != nil {
			r = body.open()
			if body.size == 0 {
				r = http.NoBody // not a chunked upload of nothing
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
		if err != nil {
			return nil, err
		}
		// Go would send the path as it encodes it; S3 signs the path as
		// the canonical request encodes it, so send exactly that.
		req.URL.RawPath = encodePath(u.Path)
		if body != nil {
			req.ContentLength = body.size
		}
		for k, vs := range hdr {
			req.Header[k] = vs
		}
		b.sign(req, sha)
		resp, err := b.cfg.HTTP.Do(req)
		if err != nil {
			last = fmt.Errorf("%s s3://%s/%s: %w", method, b.name, key, err)
			if ctx.Err() != nil {
				return nil, last
			}
			continue
		}
		if resp.StatusCode < 300 {
			return resp, nil
		}
		last = b.statusError(method, key, resp)
		if resp.StatusCode < 500 {
			return nil, last
		}
	}
	return nil, last
}

func (b *Bucket) statusError(method, key string, resp *http.Response) error {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var e struct{ Code, Message string }
	xml.Unmarshal(raw, &e)
	where := fmt.Sprintf("%s s3://%s/%s: HTTP %d", method, b.name, key, resp.StatusCode)
	if e.Code != "" {
		where += " " + e.Code
	}
	if e.Message != "" {
		where += ": " + e.Message
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, where)
	case resp.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %s", ErrPrecondition, where)
	case resp.StatusCode == http.StatusConflict && e.Code == "ConditionalRequestConflict":
		return fmt.Errorf("%w: %s", ErrConflict, where)
	}
	return errors.New(where)
}

// ParseURL splits s3://bucket/prefix into its bucket and prefix (without
// a trailing slash).
func ParseURL(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URL", s)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket (s3://bucket/prefix)", s)
	}
	return bucket, prefix, nil
}

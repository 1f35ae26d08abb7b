// Package httpx holds the HTTP plumbing both API clients share: a typed
// status error, URL redaction for logs, and the retry policy and backoff that
// go-retryablehttp runs, written as pure functions so they can be table-tested.
package httpx

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// StatusError is an HTTP answer outside 2xx.
type StatusError struct {
	Method    string
	URL       string // redacted
	Status    int
	RequestID string
	Body      string // first KiB
}

func (e *StatusError) Error() string {
	body := strings.TrimSpace(e.Body)
	if body == "" {
		return fmt.Sprintf("%s %s: HTTP %d", e.Method, e.URL, e.Status)
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.URL, e.Status, body)
}

// NewStatusError reads up to 1 KiB of resp's body into a StatusError.
func NewStatusError(resp *http.Response) *StatusError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	rid := resp.Header.Get("X-Request-Id")
	return &StatusError{Method: resp.Request.Method, URL: Redact(resp.Request.URL), Status: resp.StatusCode, RequestID: rid, Body: string(b)}
}

// Redact returns u without user info and with sensitive query values hidden.
func Redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	q := c.Query()
	for k := range q {
		switch strings.ToLower(k) {
		case "access_token", "token", "client_secret", "assertion", "password":
			q.Set(k, "xxxxx")
		}
	}
	c.RawQuery = q.Encode()
	return c.String()
}

type ctxKey int

const noReplayKey ctxKey = 1

// NoReplay marks a request whose effect may have happened even when no
// answer arrived (a create): it is retried only on answers that prove it was
// not processed (429), never on 5xx or network errors.
func NoReplay(ctx context.Context) context.Context { return context.WithValue(ctx, noReplayKey, true) }

// ShouldRetry is the retry policy: network errors, 429 and 5xx except 501
// are retried, unless the request is marked NoReplay (then only 429).
func ShouldRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	noReplay, _ := ctx.Value(noReplayKey).(bool)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			var cert x509.UnknownAuthorityError
			if errors.As(uerr.Err, &cert) {
				return false, err
			}
		}
		return !noReplay, nil
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return true, nil
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return !noReplay, nil
	}
	return false, nil
}

// Backoff waits before attempt n (0-based): on a 429, as long as the server
// asks (Retry-After, else X-RateLimit-Reset); on a 503 with Retry-After, that
// long; otherwise exponentially from min with ±25% jitter; never more than max.
func Backoff(now func() time.Time) retryablehttp.Backoff {
	return func(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			if d, ok := WaitFromHeaders(resp.Header, now()); ok {
				return clamp(d, 0, max)
			}
		}
		if resp != nil && resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
			if d, ok := WaitFromHeaders(http.Header{"Retry-After": resp.Header.Values("Retry-After")}, now()); ok {
				return clamp(d, 0, max)
			}
		}
		d := min << attempt
		if d <= 0 || d > max {
			d = max
		}
		jitter := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
		return clamp(d+jitter, min, max)
	}
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}

// WaitFromHeaders reads how long a server asked the client to wait:
// Retry-After (delta-seconds or HTTP-date) or X-RateLimit-Reset (unix seconds).
func WaitFromHeaders(h http.Header, now time.Time) (time.Duration, bool) {
	if v := h.Get("Retry-After"); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if ts, err := strconv.ParseInt(v, 10, 64); err == nil {
			// A little past the reset so the new window has begun.
			return max(time.Unix(ts, 0).Sub(now), 0) + 50*time.Millisecond, true
		}
	}
	return 0, false
}

// NewClient returns an *http.Client that retries per ShouldRetry/Backoff.
// Logs go to logger at debug level, one line per attempt.
func NewClient(base *http.Client, logger *slog.Logger, attempts int, minWait, maxWait time.Duration, now func() time.Time) *http.Client {
	if base == nil {
		// Keep enough idle connections for concurrent writers to reuse them.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		base = &http.Client{Timeout: 60 * time.Second, Transport: t}
	}
	rc := retryablehttp.NewClient()
	rc.HTTPClient = base
	rc.Logger = nil
	rc.RetryMax = attempts
	rc.RetryWaitMin, rc.RetryWaitMax = minWait, maxWait
	rc.CheckRetry = ShouldRetry
	rc.Backoff = Backoff(now)
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	rc.RequestLogHook = func(_ retryablehttp.Logger, req *http.Request, attempt int) {
		if attempt > 0 && logger != nil {
			logger.Warn("http retry", "method", req.Method, "url", Redact(req.URL), "attempt", attempt)
		}
	}
	rc.ResponseLogHook = func(_ retryablehttp.Logger, resp *http.Response) {
		if logger != nil {
			logger.Debug("http", "method", resp.Request.Method, "url", Redact(resp.Request.URL), "status", resp.StatusCode)
		}
	}
	return rc.StandardClient()
}

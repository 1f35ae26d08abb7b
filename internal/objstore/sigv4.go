package objstore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// AWS Signature Version 4, as the S3 API reference describes it
// ("Authenticating Requests: Using the Authorization Header"): a
// canonical request of method, URI, query, signed headers and payload
// hash; a string to sign over its hash and the credential scope; a key
// derived from the secret, date, region and service.

// sign adds x-amz-date, x-amz-content-sha256 (the payload's hex SHA-256),
// the session token if any, and the Authorization header to req.
func (b *Bucket) sign(req *http.Request, payloadSHA string) {
	now := b.cfg.now().UTC()
	amzDate := now.Format("20060102T150405Z")
	day := now.Format("20060102")
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", payloadSHA)
	if b.cfg.Token != "" {
		req.Header.Set("X-Amz-Security-Token", b.cfg.Token)
	}
	// Signed: host and every x-amz-* header, plus the conditions, so a
	// proxy cannot strip them unnoticed.
	names := []string{"host"}
	for k := range req.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") || lk == "if-match" || lk == "if-none-match" {
			names = append(names, lk)
		}
	}
	sort.Strings(names)
	var canonHeaders strings.Builder
	for _, n := range names {
		v := req.Host
		if n == "host" {
			if v == "" {
				v = req.URL.Host
			}
		} else {
			v = strings.Join(req.Header.Values(n), ",")
		}
		canonHeaders.WriteString(n + ":" + strings.TrimSpace(v) + "\n")
	}
	signed := strings.Join(names, ";")
	canonical := strings.Join([]string{
		req.Method,
		encodePath(req.URL.Path),
		req.URL.RawQuery, // built by canonicalQuery
		canonHeaders.String(),
		signed,
		payloadSHA,
	}, "\n")
	scope := day + "/" + b.cfg.Region + "/s3/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hexSHA([]byte(canonical))
	key := hmacSHA([]byte("AWS4"+b.cfg.SecretKey), day)
	key = hmacSHA(key, b.cfg.Region)
	key = hmacSHA(key, "s3")
	key = hmacSHA(key, "aws4_request")
	sig := hex.EncodeToString(hmacSHA(key, toSign))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+b.cfg.AccessKey+"/"+scope+", SignedHeaders="+signed+", Signature="+sig)
}

func hmacSHA(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// uriEncode percent-encodes every byte but the unreserved characters
// (A-Z a-z 0-9 - . _ ~), and '/' too unless keepSlash.
func uriEncode(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

func encodePath(p string) string { return uriEncode(p, true) }

// canonicalQuery is the query string sorted by name, each name and value
// encoded; the same string is sent and signed.
func canonicalQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range q[k] {
			parts = append(parts, uriEncode(k, false)+"="+uriEncode(v, false))
		}
	}
	return strings.Join(parts, "&")
}

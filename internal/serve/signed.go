package serve

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
)

// rejectFunc answers a refused request with status, counting it by
// reason.
type rejectFunc func(w http.ResponseWriter, status int, reason, msg string)

// signature is how Intercom signs a request: a header holding the hex
// HMAC of the raw body keyed with the app's client secret, after a prefix.
type signature struct {
	header, prefix string
	hash           func() hash.Hash
}

var (
	// hubSignature signs webhook notifications: X-Hub-Signature,
	// "sha1=" and the HMAC-SHA1.
	hubSignature = signature{"X-Hub-Signature", "sha1=", sha1.New}
	// bodySignature signs Canvas Kit requests: X-Body-Signature, the
	// HMAC-SHA256 alone.
	bodySignature = signature{"X-Body-Signature", "", sha256.New}
)

func (s signature) sign(secret, body []byte) string {
	m := hmac.New(s.hash, secret)
	m.Write(body)
	return s.prefix + hex.EncodeToString(m.Sum(nil))
}

// valid compares header with body's signature in constant time.
func (s signature) valid(secret, body []byte, header string) bool {
	got, ok := strings.CutPrefix(strings.TrimSpace(header), s.prefix)
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(s.hash, secret)
	m.Write(body)
	return hmac.Equal(sig, m.Sum(nil))
}

// readSigned reads the body of a request Intercom signs (a webhook
// notification, a Canvas Kit request): a POST of at most max bytes whose
// header holds a signature valid for the raw body under secret. Anything
// else is answered through reject (405, 413, 400 unreadable, 401) and ok
// is false.
func readSigned(w http.ResponseWriter, r *http.Request, max int64, sig signature, secret []byte, reject rejectFunc) (body []byte, ok bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reject(w, http.StatusMethodNotAllowed, "method", "POST only")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		reject(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", max))
		return nil, false
	case err != nil:
		reject(w, http.StatusBadRequest, "unreadable", err.Error())
		return nil, false
	}
	if !sig.valid(secret, body, r.Header.Get(sig.header)) {
		reject(w, http.StatusUnauthorized, "signature", sig.header+" does not match the body")
		return nil, false
	}
	return body, true
}

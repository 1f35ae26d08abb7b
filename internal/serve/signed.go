package serve

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// rejectFunc answers a refused request with status, counting it by
// reason.
type rejectFunc func(w http.ResponseWriter, status int, reason, msg string)

// readSigned reads the body of a request Intercom signs (a webhook
// notification, a Canvas Kit request): a POST of at most max bytes whose
// header holds a signature valid for the raw body. Anything else is
// answered through reject (405, 413, 400 unreadable, 401) and ok is
// false.
func readSigned(w http.ResponseWriter, r *http.Request, max int64, header string, valid func(body []byte, sig string) bool, reject rejectFunc) (body []byte, ok bool) {
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
	if !valid(body, r.Header.Get(header)) {
		reject(w, http.StatusUnauthorized, "signature", header+" does not match the body")
		return nil, false
	}
	return body, true
}

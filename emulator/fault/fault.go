// Package fault injects the failure real networks produce most often and
// tests reach least: a write the server commits whose response never
// reaches the client. The client cannot tell it from a write that never
// arrived, so only a client that looks before it writes again stays
// exactly-once.
package fault

import (
	"io"
	"net/http"
)

// Loss is how a lost response reaches the client.
type Loss int

const (
	// Dropped closes the connection without an answer, as a server or
	// proxy that dies mid-request does.
	Dropped Loss = iota
	// BadGateway answers 502 from a proxy in front of the server.
	BadGateway
	// GatewayTimeout answers 504: the proxy stopped waiting for the
	// server, which went on to commit.
	GatewayTimeout
	losses
)

// Pick maps a uniform number in [0, 1) to a Loss, so that the caller's
// seeded random source decides.
func Pick(u float64) Loss { return Loss(u * float64(losses)) }

// String names a loss for the emulators' fault counters.
func (l Loss) String() string {
	switch l {
	case Dropped:
		return "lost-dropped"
	case BadGateway:
		return "lost-502"
	default:
		return "lost-504"
	}
}

// Lose runs serve, which handles the request in full (a write commits),
// into a response nobody reads, and then loses the response as l says.
func Lose(w http.ResponseWriter, serve func(http.ResponseWriter), l Loss) {
	serve(&discard{header: http.Header{}})
	switch l {
	case Dropped:
		// The server closes the connection without writing a byte.
		panic(http.ErrAbortHandler)
	case BadGateway:
		gateway(w, http.StatusBadGateway)
	default:
		gateway(w, http.StatusGatewayTimeout)
	}
}

// gateway answers as a proxy does: an HTML page, none of the API's JSON.
func gateway(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	text := http.StatusText(status)
	io.WriteString(w, "<html><head><title>"+text+"</title></head><body><h1>"+text+"</h1></body></html>\n")
}

// discard is a ResponseWriter whose output goes nowhere.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// Package emulator runs the Intercom and Salesforce emulators together over
// one state directory, as `ferry emulator` does.
package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-sync/ferry/emulator/intercom"
	"github.com/ferry-sync/ferry/emulator/salesforce"
	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/emulator/store"
)

// Config is what `ferry emulator` takes on its command line.
type Config struct {
	Dir            string
	IntercomAddr   string
	SalesforceAddr string
	Seed           int64
	Scale          int
	Latency        time.Duration
	FailRate       float64
	LoseRate       float64
	RateLimit      int
	DailyLimit     int
	// WebhookURL, when set, receives the Intercom emulator's webhook
	// notifications, signed with intercom.ClientSecret.
	WebhookURL string
}

// Pair is a running pair of emulators.
type Pair struct {
	Intercom   *intercom.Server
	Salesforce *salesforce.Server
	KeyFile    string
	journals   []*store.Journal
}

// Open builds both emulators over dir (seed + journals), without serving.
func Open(cfg Config) (*Pair, error) {
	meta, err := store.CheckMeta(cfg.Dir, store.Meta{Seed: cfg.Seed, Scale: cfg.Scale})
	if err != nil {
		return nil, err
	}
	ds := seed.New(seed.Params{Seed: meta.Seed, Scale: meta.Scale})
	key, keyFile, err := loadKey(cfg.Dir)
	if err != nil {
		return nil, err
	}
	ij, err := store.Open(cfg.Dir, "intercom.journal")
	if err != nil {
		return nil, err
	}
	sj, err := store.Open(cfg.Dir, "salesforce.journal")
	if err != nil {
		ij.Close()
		return nil, err
	}
	ic, err := intercom.New(intercom.Options{Dataset: ds, Journal: ij, Latency: cfg.Latency, FailRate: cfg.FailRate, LoseRate: cfg.LoseRate, RateLimit: cfg.RateLimit,
		Webhooks: intercom.Webhooks{URL: cfg.WebhookURL}})
	if err != nil {
		return nil, err
	}
	sf, err := salesforce.New(salesforce.Options{Dataset: ds, Journal: sj, Latency: cfg.Latency, FailRate: cfg.FailRate, LoseRate: cfg.LoseRate, DailyLimit: cfg.DailyLimit, PublicKey: &key.PublicKey})
	if err != nil {
		return nil, err
	}
	return &Pair{Intercom: ic, Salesforce: sf, KeyFile: keyFile, journals: []*store.Journal{ij, sj}}, nil
}

// Close flushes the journals.
func (p *Pair) Close() error {
	var errs []error
	for _, j := range p.journals {
		errs = append(errs, j.Close())
	}
	return errors.Join(errs...)
}

// loadKey returns the RSA key whose public half verifies JWT bearer
// assertions, creating it (and the private key file a pipeline signs with)
// on first use.
func loadKey(dir string) (*rsa.PrivateKey, string, error) {
	p := filepath.Join(dir, "jwt_private_key.pem")
	if b, err := os.ReadFile(p); err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, "", fmt.Errorf("%s: not a PEM file", p)
		}
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", p, err)
		}
		return k, p, nil
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, "", err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := os.WriteFile(p, out, 0o600); err != nil {
		return nil, "", err
	}
	return k, p, nil
}

// Serve listens on both addresses, prints the settings a pipeline needs, and
// serves until ctx is done.
func Serve(ctx context.Context, cfg Config, out io.Writer) error {
	pair, err := Open(cfg)
	if err != nil {
		return err
	}
	defer pair.Close()
	il, err := net.Listen("tcp", cfg.IntercomAddr)
	if err != nil {
		return fmt.Errorf("listen intercom: %w", err)
	}
	sl, err := net.Listen("tcp", cfg.SalesforceAddr)
	if err != nil {
		il.Close()
		return fmt.Errorf("listen salesforce: %w", err)
	}
	isrv := &http.Server{Handler: pair.Intercom, ReadHeaderTimeout: 10 * time.Second}
	ssrv := &http.Server{Handler: pair.Salesforce, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- isrv.Serve(il) }()
	go func() { errc <- ssrv.Serve(sl) }()
	env := Env("http://"+il.Addr().String(), "http://"+sl.Addr().String(), pair.KeyFile)
	if err := os.WriteFile(filepath.Join(cfg.Dir, "env"), []byte(env), 0o600); err != nil {
		return fmt.Errorf("write settings file: %w", err)
	}
	fmt.Fprint(out, env)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	isrv.Shutdown(sctx)
	ssrv.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Env renders the environment settings pipelines/intercom_salesforce.yaml
// reads, for emulators at the given URLs, and the emulated Intercom app's
// client secret, which signs its webhooks (ferry serve).
func Env(intercomURL, salesforceURL, keyFile string) string {
	return fmt.Sprintf(`export INTERCOM_BASE_URL=%s
export INTERCOM_ACCESS_TOKEN=%s
export INTERCOM_CLIENT_SECRET=%s
export SALESFORCE_LOGIN_URL=%s
export SALESFORCE_CLIENT_ID=%s
export SALESFORCE_CLIENT_SECRET=%s
export SALESFORCE_USERNAME=%s
export SALESFORCE_PRIVATE_KEY_FILE=%s
`, intercomURL, intercom.Token, intercom.ClientSecret, salesforceURL, salesforce.ClientID, salesforce.ClientSecret, salesforce.Username, keyFile)
}

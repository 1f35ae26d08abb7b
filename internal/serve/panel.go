package serve

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/internal/duck"
	"github.com/ferry-sync/ferry/internal/state"
	sqlfiles "github.com/ferry-sync/ferry/sql"
)

// Panel is what the inbox app's views read: a snapshot of the warehouse in
// a DuckDB file of its own. A sync holds the warehouse exclusively (DuckDB
// locks the file) for as long as it runs, so a view reading the warehouse
// would fail or wait whenever one does; the snapshot is always readable and
// is replaced whole by Refresh after a sync. Its staleness is therefore
// bounded by the refresh schedule: at most one refresh behind the last run.
type Panel struct {
	// Dir holds the snapshot files (panel-*.duckdb). It is the Panel's
	// own: its first Refresh removes the files an earlier process left.
	Dir     string
	Metrics *Metrics
	Log     *slog.Logger

	build   sync.Mutex // one Refresh at a time
	cleaned bool       // the leftovers of an earlier process are gone
	seq     int
	mu      sync.RWMutex // guards cur
	cur     *snapshot
	// swapped, when set (by tests), is called once a new snapshot answers
	// and before Refresh waits for the views still reading the old one.
	swapped func()
}

// Panel limits: how many open opportunities and open Cases of an Account a
// snapshot keeps. A single-select offers 10 options at most; Cases beyond
// the first few are counted, not listed.
const (
	maxOpportunities = 10
	maxCases         = 5
)

var (
	// ErrPanelBusy means a sync held the warehouse (or the data dir's lock), so
	// the snapshot could not be refreshed; the previous one still answers.
	ErrPanelBusy = errors.New("warehouse busy")
	// ErrPanelUnchanged means the warehouse was not written since the snapshot
	// was taken, so Refresh kept it.
	ErrPanelUnchanged = errors.New("warehouse unchanged since the last snapshot")
)

// snapshot is one built panel file, open read-only. Views count
// themselves in readers, so that a Refresh closes and removes a replaced
// snapshot only once the views that started on it have finished.
type snapshot struct {
	db      *sql.DB
	path    string
	mark    mark
	asOf    time.Time // when the warehouse's last successful run finished
	builtAt time.Time
	people  int64 // rows, one per Intercom contact
	// The lookups, prepared once: planning a statement costs more than
	// the indexed read it makes.
	person, opportunities, cases *sql.Stmt
	readers                      sync.WaitGroup
}

// mark tells whether the warehouse was written: DuckDB commits to the file
// or to its write-ahead log, and reading it read-only changes neither.
type mark struct {
	size, walSize int64
	mod, walMod   time.Time
}

func markOf(warehouse string) (mark, error) {
	fi, err := os.Stat(warehouse)
	if err != nil {
		return mark{}, err
	}
	m := mark{size: fi.Size(), mod: fi.ModTime()}
	if wi, err := os.Stat(warehouse + ".wal"); err == nil {
		m.walSize, m.walMod = wi.Size(), wi.ModTime()
	}
	return m, nil
}

// Refresh builds a new snapshot from the warehouse at warehousePath
// (<data-dir>/warehouse.duckdb) and swaps it in: views already running
// finish on the old one, which is then closed and removed.
//
// It takes the data dir's lock shared, as other readers of the committed
// state do, so a run cannot start half-way through the copy. When a run
// holds the lock, or the warehouse is open for writing elsewhere, it
// returns an error wrapping ErrPanelBusy; when nothing was written since the
// last snapshot, ErrPanelUnchanged. Either way the previous snapshot keeps
// answering. Call it after each sync (ferry serve's batches) and on a
// timer, for the runs other processes make.
func (p *Panel) Refresh(ctx context.Context, warehousePath string) error {
	p.build.Lock()
	defer p.build.Unlock()
	start := time.Now()
	err := p.refresh(ctx, warehousePath)
	switch {
	case err == nil:
		p.Metrics.panelRefreshed(time.Since(start))
	case errors.Is(err, ErrPanelUnchanged):
	default:
		p.Metrics.panelNotRefreshed(errors.Is(err, ErrPanelBusy))
	}
	return err
}

func (p *Panel) refresh(ctx context.Context, warehousePath string) error {
	start := time.Now()
	if p.Dir == "" {
		return errors.New("panel: no Dir for the snapshots")
	}
	stmts, err := sqlfiles.PanelStatements()
	if err != nil {
		return err
	}
	// Before any run there is nothing to copy, and taking the lock would
	// create the data dir.
	if _, err := os.Stat(warehousePath); err != nil {
		return fmt.Errorf("panel: %w", err)
	}
	lock, err := state.AcquireShared(filepath.Dir(warehousePath))
	if errors.Is(err, state.ErrLocked) {
		return fmt.Errorf("%w: %w", ErrPanelBusy, err)
	}
	if err != nil {
		return err
	}
	// The lock is needed while the warehouse is read only: a run may
	// start as soon as the copy is made.
	release := sync.OnceFunc(func() { lock.Release() })
	defer release()
	m, err := markOf(warehousePath)
	if err != nil {
		return fmt.Errorf("panel: %w", err)
	}
	p.mu.RLock()
	same := p.cur != nil && p.cur.mark == m
	p.mu.RUnlock()
	if same {
		return ErrPanelUnchanged
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return err
	}
	if !p.cleaned {
		old, _ := filepath.Glob(filepath.Join(p.Dir, "panel-*.duckdb*"))
		for _, f := range old {
			os.Remove(f)
		}
		p.cleaned = true
	}
	p.seq++
	path := filepath.Join(p.Dir, fmt.Sprintf("panel-%d-%d.duckdb", os.Getpid(), p.seq))
	if err := build(ctx, warehousePath, path, stmts); err != nil {
		removeDB(path)
		return err
	}
	release()
	s, err := openSnapshot(ctx, path, stmts)
	if err != nil {
		removeDB(path)
		return err
	}
	s.mark = m
	if fi, err := os.Stat(path); err == nil {
		p.log().Info("panel refreshed", "people", s.people, "bytes", fi.Size(), "took", time.Since(start).Round(time.Millisecond))
	}
	p.mu.Lock()
	old := p.cur
	p.cur = s
	p.mu.Unlock()
	if p.swapped != nil {
		p.swapped()
	}
	if old != nil {
		old.readers.Wait()
		old.close()
		removeDB(old.path)
	}
	return nil
}

// build copies the panel's tables from the warehouse into a new file at
// path. Everything runs on one connection: the stand-in for a missing
// account_health is a temporary view, which only its connection sees.
func build(ctx context.Context, warehouse, path string, stmts map[string]string) error {
	wh, err := duck.Open(warehouse + "?access_mode=read_only")
	if err != nil {
		if lockConflict(err) {
			return fmt.Errorf("%w: %w", ErrPanelBusy, err)
		}
		return err
	}
	defer wh.Close()
	conn, err := wh.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var health int
	if err := conn.QueryRowContext(ctx, stmts["HasView"], "account_health").Scan(&health); err != nil {
		return fmt.Errorf("panel: look for account_health: %w", err)
	}
	if health == 0 {
		if _, err := conn.ExecContext(ctx, stmts["NoHealth"]); err != nil {
			return fmt.Errorf("panel: %w", err)
		}
	}
	// ATTACH takes no bound parameter for the path: it is quoted as a
	// string literal instead.
	if _, err := conn.ExecContext(ctx, "ATTACH "+state.QuoteString(path)+" AS panel (READ_WRITE)"); err != nil {
		return fmt.Errorf("panel: create %s: %w", path, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DETACH panel")
	for _, st := range []struct {
		name string
		args []any
	}{
		{"BuildMeta", nil},
		{"BuildOwners", nil},
		{"BuildPeople", nil},
		{"IndexPeople", nil},
		{"BuildOpportunities", []any{maxOpportunities}},
		{"IndexOpportunities", nil},
		{"BuildCases", []any{maxCases}},
		{"IndexCases", nil},
	} {
		if _, err := conn.ExecContext(ctx, stmts[st.name], st.args...); err != nil {
			return fmt.Errorf("panel: %s: %w", st.name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "CHECKPOINT panel"); err != nil {
		return fmt.Errorf("panel: checkpoint: %w", err)
	}
	return nil
}

// lockConflict tells DuckDB's refusals to open a file another handle
// holds for writing: another process's lock, or (within this process, where
// handles of one file share a database) a handle opened read-write. The
// driver reports both only as text.
func lockConflict(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Could not set lock on file") ||
		strings.Contains(msg, "different configuration than existing connections")
}

func openSnapshot(ctx context.Context, path string, stmts map[string]string) (*snapshot, error) {
	db, err := duck.Open(path + "?access_mode=read_only")
	if err != nil {
		return nil, err
	}
	s := &snapshot{db: db, path: path, builtAt: time.Now().UTC()}
	var asOf sql.NullTime
	if err := db.QueryRowContext(ctx, stmts["LookupMeta"]).Scan(&asOf, &s.people); err != nil {
		db.Close()
		return nil, fmt.Errorf("panel: read %s: %w", path, err)
	}
	s.asOf = asOf.Time
	for _, st := range []struct {
		stmt **sql.Stmt
		name string
	}{{&s.person, "LookupPerson"}, {&s.opportunities, "LookupOpportunities"}, {&s.cases, "LookupCases"}} {
		if *st.stmt, err = db.PrepareContext(ctx, stmts[st.name]); err != nil {
			s.close()
			return nil, fmt.Errorf("panel: prepare %s: %w", st.name, err)
		}
	}
	return s, nil
}

// close closes the snapshot's statements and database.
func (s *snapshot) close() error {
	for _, st := range []*sql.Stmt{s.person, s.opportunities, s.cases} {
		if st != nil {
			st.Close()
		}
	}
	return s.db.Close()
}

func removeDB(path string) {
	os.Remove(path)
	os.Remove(path + ".wal")
}

// Close closes the current snapshot and removes its file.
func (p *Panel) Close() error {
	p.build.Lock()
	defer p.build.Unlock()
	p.mu.Lock()
	s := p.cur
	p.cur = nil
	p.mu.Unlock()
	if s == nil {
		return nil
	}
	s.readers.Wait()
	err := s.close()
	removeDB(s.path)
	return err
}

// acquire returns the current snapshot, counted as read until release;
// nil before the first Refresh.
func (p *Panel) acquire() *snapshot {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.cur != nil {
		p.cur.readers.Add(1)
	}
	return p.cur
}

// person is what a view shows of one Intercom contact.
type person struct {
	IntercomName, IntercomEmail string
	// Object is "Contact" or "Lead", "" when no Salesforce person matches.
	Object, SalesforceID string
	Name, Email, Owner   string
	Company, Status      string // a Lead's
	Account              *account
	Opportunities        []opportunity
	Cases                []supportCase
	AsOf                 time.Time // the warehouse's last successful run
}

type account struct {
	ID, Name, Website, Domain, Owner, Country string
	HealthScore                               sql.NullFloat64
	HealthBand                                string
	OpenOpportunities, OpenCases              int
}

type opportunity struct {
	ID, Name, Stage, Owner string
	CloseDate              sql.NullTime
	Amount                 sql.NullFloat64
}

type supportCase struct {
	ID, Number, Subject, Status, Priority string
}

func (p *Panel) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

// errNoSnapshot means no Refresh has succeeded yet.
var errNoSnapshot = errors.New("panel: no snapshot yet")

// lookup reads one Intercom contact from the current snapshot: nil when
// the warehouse did not know them when the snapshot was taken.
func (p *Panel) lookup(ctx context.Context, intercomID string) (*person, error) {
	s := p.acquire()
	if s == nil {
		return nil, errNoSnapshot
	}
	defer s.readers.Done()
	var (
		pr                                                person
		icName, icEmail, object, sfID, name, email, owner sql.NullString
		company, status, accountID, accountName, website  sql.NullString
		domain, accountOwner, country, band               sql.NullString
		score                                             sql.NullFloat64
		openOpps, openCases                               sql.NullInt64
	)
	err := s.person.QueryRowContext(ctx, intercomID).Scan(&icName, &icEmail, &object, &sfID, &name, &email, &owner,
		&company, &status, &accountID, &accountName, &website, &domain, &accountOwner, &country, &score, &band, &openOpps, &openCases)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("panel: look up contact %s: %w", intercomID, err)
	}
	pr = person{IntercomName: icName.String, IntercomEmail: icEmail.String, Object: object.String, SalesforceID: sfID.String,
		Name: name.String, Email: email.String, Owner: owner.String, Company: company.String, Status: status.String, AsOf: s.asOf}
	if !accountID.Valid {
		return &pr, nil
	}
	pr.Account = &account{ID: accountID.String, Name: accountName.String, Website: website.String, Domain: domain.String,
		Owner: accountOwner.String, Country: country.String, HealthScore: score, HealthBand: band.String,
		OpenOpportunities: int(openOpps.Int64), OpenCases: int(openCases.Int64)}
	if pr.Opportunities, err = opportunitiesOf(ctx, s, accountID.String); err != nil {
		return nil, err
	}
	if pr.Cases, err = casesOf(ctx, s, accountID.String); err != nil {
		return nil, err
	}
	return &pr, nil
}

func opportunitiesOf(ctx context.Context, s *snapshot, accountID string) ([]opportunity, error) {
	rows, err := s.opportunities.QueryContext(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("panel: opportunities of %s: %w", accountID, err)
	}
	defer rows.Close()
	var out []opportunity
	for rows.Next() {
		var o opportunity
		var name, stage, owner sql.NullString
		if err := rows.Scan(&o.ID, &name, &stage, &o.CloseDate, &o.Amount, &owner); err != nil {
			return nil, err
		}
		o.Name, o.Stage, o.Owner = name.String, stage.String, owner.String
		out = append(out, o)
	}
	return out, rows.Err()
}

func casesOf(ctx context.Context, s *snapshot, accountID string) ([]supportCase, error) {
	rows, err := s.cases.QueryContext(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("panel: cases of %s: %w", accountID, err)
	}
	defer rows.Close()
	var out []supportCase
	for rows.Next() {
		var c supportCase
		var number, subject, status, priority sql.NullString
		if err := rows.Scan(&c.ID, &number, &subject, &status, &priority); err != nil {
			return nil, err
		}
		c.Number, c.Subject, c.Status, c.Priority = number.String, subject.String, status.String, priority.String
		out = append(out, c)
	}
	return out, rows.Err()
}

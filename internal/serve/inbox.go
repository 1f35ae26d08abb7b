// Package serve is `ferry serve`: a long-running process that receives
// Intercom's webhook notifications, keeps each durably before answering,
// and syncs the records they name in small batches through the same
// models and syncs as a scheduled run.
package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Notification is one Intercom webhook notification (the envelope of
// every topic: type notification_event, id, topic, data.item).
type Notification struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Topic     string `json:"topic"`
	AppID     string `json:"app_id"`
	CreatedAt int64  `json:"created_at"`
	Data      struct {
		Type string          `json:"type"`
		Item json.RawMessage `json:"item"`
	} `json:"data"`
}

// Stored is a notification kept in the inbox, with when it arrived.
type Stored struct {
	Notification
	ReceivedAt time.Time `json:"-"`
}

// idPattern is what a notification id may look like ("notif_<uuid>"); it
// names a file, so nothing else is accepted.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// Inbox keeps notifications on disk: pending/<id>.json from the moment
// they are received until a batch that synced them is committed, then
// done/<id>.json for as long as a redelivery may come (deduplication by
// id); failed/<id>.json when no batch could sync it (Fail). Each file is written to a temporary name, synced and renamed, so
// a crash leaves a notification stored whole or not at all.
type Inbox struct {
	dir string
	mu  sync.Mutex
}

// OpenInbox opens (creating) the inbox in dir.
func OpenInbox(dir string) (*Inbox, error) {
	for _, d := range []string{"pending", "done", "failed"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("webhook inbox: %w", err)
		}
	}
	return &Inbox{dir: dir}, nil
}

// ErrBadID is a notification id the inbox does not take.
var ErrBadID = errors.New("notification id is not a plain identifier")

// Add stores raw (the notification n as delivered) unless a notification
// with its id is pending or done already: then dup is true and nothing
// changes.
func (in *Inbox) Add(n Notification, raw []byte) (dup bool, err error) {
	if !idPattern.MatchString(n.ID) {
		return false, ErrBadID
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	name := n.ID + ".json"
	for _, d := range []string{"pending", "done", "failed"} {
		if _, err := os.Stat(filepath.Join(in.dir, d, name)); err == nil {
			return true, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	return false, writeSynced(filepath.Join(in.dir, "pending"), name, raw)
}

// writeSynced writes data to dir/name through a synced temporary file
// and a rename, then syncs dir so the rename survives a crash.
func writeSynced(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("webhook inbox: store %s: %w", name, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Pending returns up to limit pending notifications, oldest first.
func (in *Inbox) Pending(limit int) ([]Stored, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	files, err := in.pendingFiles()
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(files) > limit {
		files = files[:limit]
	}
	out := make([]Stored, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s := Stored{ReceivedAt: f.at}
		if err := json.Unmarshal(b, &s.Notification); err != nil {
			return nil, fmt.Errorf("webhook inbox: %s: %w", f.path, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// pendingFile is a pending notification's file and when it was stored.
type pendingFile struct {
	path, id string
	at       time.Time
}

// pendingFiles lists the pending notifications, oldest first, from the
// directory alone (nothing is read or parsed).
func (in *Inbox) pendingFiles() ([]pendingFile, error) {
	entries, err := os.ReadDir(filepath.Join(in.dir, "pending"))
	if err != nil {
		return nil, err
	}
	var out []pendingFile
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f := pendingFile{path: filepath.Join(in.dir, "pending", e.Name()), id: strings.TrimSuffix(e.Name(), ".json")}
		if info, err := e.Info(); err == nil {
			f.at = info.ModTime()
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].at.Equal(out[j].at) {
			return out[i].at.Before(out[j].at)
		}
		return out[i].id < out[j].id
	})
	return out, nil
}

// Fail moves a notification no batch could sync out of pending, into
// failed/: the scheduled runs, which read every change, sync its record;
// moving the file back to pending/ tries it again.
func (in *Inbox) Fail(id string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	err := os.Rename(filepath.Join(in.dir, "pending", id+".json"), filepath.Join(in.dir, "failed", id+".json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("webhook inbox: %w", err)
	}
	return nil
}

// Done moves notifications a committed batch synced out of pending.
func (in *Inbox) Done(ids []string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, id := range ids {
		err := os.Rename(filepath.Join(in.dir, "pending", id+".json"), filepath.Join(in.dir, "done", id+".json"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("webhook inbox: %w", err)
		}
	}
	return nil
}

// Prune forgets done notifications older than keep: a redelivery after
// that is refused as stale by the receiver, not deduplicated here.
func (in *Inbox) Prune(keep time.Duration, now time.Time) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	entries, err := os.ReadDir(filepath.Join(in.dir, "done"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > keep {
			os.Remove(filepath.Join(in.dir, "done", e.Name()))
		}
	}
	return nil
}

// Counts reports how many notifications are pending, and the age of the
// oldest (the lag), from the directory alone.
func (in *Inbox) Counts(now time.Time) (pending int, lag time.Duration, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	files, err := in.pendingFiles()
	if err != nil || len(files) == 0 {
		return 0, 0, err
	}
	return len(files), now.Sub(files[0].at), nil
}

package duck

import (
	"context"
	"database/sql"
	"testing"
)

// Every connection of the pool runs in UTC, not only the one Open
// configured: models, watermarks and the sync log format timestamps, and a
// machine in another time zone must not shift them.
func TestOpen_EveryConnectionInUTC(t *testing.T) {
	t.Setenv("TZ", "Asia/Tokyo")
	db, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 3 {
		c, err := db.Conn(ctx) // held, so that the pool opens another
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var tz, day string
		if err := c.QueryRowContext(ctx, "SELECT current_setting('TimeZone'), strftime(TIMESTAMPTZ '2026-01-01 23:30:00+00', '%Y-%m-%d')").Scan(&tz, &day); err != nil {
			t.Fatal(err)
		}
		if tz != "UTC" || day != "2026-01-01" {
			t.Errorf("connection %d: TimeZone %q, 2026-01-01 23:30 UTC formats as %s; want UTC and 2026-01-01", i, tz, day)
		}
	}
}

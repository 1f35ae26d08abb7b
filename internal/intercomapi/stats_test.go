package intercomapi_test

import (
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

func stats(t *testing.T, base string) map[string]int {
	t.Helper()
	return testenv.ReadStats(t, base).Faults
}

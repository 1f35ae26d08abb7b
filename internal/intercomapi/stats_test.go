package intercomapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

func stats(t *testing.T, base string) map[string]int {
	t.Helper()
	resp, err := http.Get(base + "/_emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Faults map[string]int `json:"faults"`
	}
	json.NewDecoder(resp.Body).Decode(&s)
	return s.Faults
}

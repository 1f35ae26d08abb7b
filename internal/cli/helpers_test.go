package cli_test

import (
	"encoding/json"
	"testing"
)

type conv struct{ id, contact, state string }

func decodeConversations(t *testing.T, b []byte) []conv {
	t.Helper()
	var res struct {
		Conversations []struct {
			ID       string `json:"id"`
			State    string `json:"state"`
			Contacts struct {
				Contacts []struct {
					ID string `json:"id"`
				} `json:"contacts"`
			} `json:"contacts"`
		} `json:"conversations"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	out := make([]conv, 0, len(res.Conversations))
	for _, c := range res.Conversations {
		out = append(out, conv{c.ID, c.Contacts.Contacts[0].ID, c.State})
	}
	return out
}

package seed

import (
	"fmt"
	"iter"
	"time"
)

// Tag is an Intercom tag.
type Tag struct {
	ID, Name string
}

// Tags are the workspace's tags.
var Tags = []Tag{{"7001", "pricing"}, {"7002", "bug"}, {"7003", "billing"}, {"7004", "urgent"}, {"7005", "onboarding"}}

// Part is one conversation part.
type Part struct {
	ID         string
	Type       string // comment | note | assignment | close | open
	Body       string
	AuthorType string // user | lead | admin
	AuthorID   string
	CreatedAt  time.Time
}

// Conversation is an Intercom conversation with its parts.
type Conversation struct {
	ID         string
	ContactID  string
	AdminIndex int // assignee; -1 for none
	State      string
	Priority   string // none | high | urgent
	TagIDs     []string
	Subject    string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Rating     int // 0 for none, else 1..5
	Remark     string
	Parts      []Part
}

var subjects = []string{"Question about pricing for more seats", "Export fails with an error", "Invoice address change", "How do I invite my team?", "SSO setup", "API rate limits"}

// Conversations yields the seeded conversations: every third contact has
// one to three, most closed, some open, tagged and prioritised variously.
func (d *Dataset) Conversations() iter.Seq[Conversation] {
	return func(yield func(Conversation) bool) {
		for i := 0; i < d.p.Scale; i += 3 {
			p := d.Person(i)
			for j := range 1 + (i/3)%3 {
				if !yield(d.conversation(p, j)) {
					return
				}
			}
		}
	}
}

func (d *Dataset) conversation(p Person, j int) Conversation {
	r := d.rng("conversation", p.Index*3+j)
	created := p.CreatedAt.Add(time.Duration(1+j*20+r.IntN(15)) * 24 * time.Hour)
	c := Conversation{
		ID:         fmt.Sprint(100000 + p.Index*3 + j),
		ContactID:  p.ID,
		AdminIndex: r.IntN(d.users),
		State:      "closed",
		Priority:   "none",
		Subject:    subjects[r.IntN(len(subjects))],
		CreatedAt:  created,
	}
	if (p.Index+j)%5 == 0 {
		c.State = "open"
	}
	if p.Index%11 == 0 {
		c.Priority = "high"
	}
	if p.Index%7 == 0 {
		c.TagIDs = append(c.TagIDs, "7001") // pricing
	}
	if p.Index%4 == 0 {
		c.TagIDs = append(c.TagIDs, "7002") // bug
	}
	if p.Index%13 == 0 {
		c.TagIDs = append(c.TagIDs, "7004") // urgent
	}
	author := p.Role
	admin := fmt.Sprint(991200000 + c.AdminIndex)
	t := created
	add := func(typ, body, authorType, authorID string, after time.Duration) {
		t = t.Add(after)
		c.Parts = append(c.Parts, Part{ID: fmt.Sprintf("%s%02d", c.ID, len(c.Parts)+1), Type: typ, Body: body, AuthorType: authorType, AuthorID: authorID, CreatedAt: t})
	}
	add("assignment", "", "admin", admin, time.Duration(1+r.IntN(30))*time.Minute)
	add("comment", "<p>Thanks for reaching out, looking into it now.</p>", "admin", admin, time.Duration(2+r.IntN(240))*time.Minute)
	add("comment", "<p>"+c.Subject+" - here are more details from my side.</p>", author, p.ID, time.Duration(5+r.IntN(120))*time.Minute)
	add("comment", "<p>That should be sorted; let us know if not.</p>", "admin", admin, time.Duration(10+r.IntN(600))*time.Minute)
	if c.State == "closed" {
		add("close", "", "admin", admin, time.Duration(1+r.IntN(60))*time.Minute)
		if r.IntN(2) == 0 {
			c.Rating = 1 + r.IntN(5)
			c.Remark = []string{"", "slow", "ok", "helpful", "great"}[c.Rating-1]
		}
	}
	c.UpdatedAt = t
	return c
}

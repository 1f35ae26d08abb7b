package cli_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/internal/testenv"
)

// TestRun_ConfiguredExternalIDNames runs the whole pipeline against an org
// whose external-id fields have other names than the example's: links,
// Tasks and Cases are keyed on the configured fields, and a second run
// writes nothing (with the staging models reading fixed names, every link
// was written again on every run).
func TestRun_ConfiguredExternalIDNames(t *testing.T) {
	t.Parallel()
	names := strings.NewReplacer("Intercom_Id__c", "Ferry_Person_Key__c", "Intercom_Company_Id__c", "Ferry_Company_Key__c",
		"Intercom_Conversation_Id__c", "Ferry_Conversation_Key__c")
	b, err := os.ReadFile(pipelinePath())
	if err != nil {
		t.Fatal(err)
	}
	renamed := names.Replace(string(b))
	if strings.Contains(renamed, "Intercom_Id__c") || !strings.Contains(renamed, "Ferry_Conversation_Key__c") {
		t.Fatal("the example pipeline's external-id names were not all replaced")
	}
	pipeline := testenv.WriteFile(t, t.TempDir(), "pipeline.yaml", renamed)
	emu := testenv.StartEmulators(t, testenv.EmulatorOptions{Scale: 300, ExternalIDs: map[string][]string{
		"Lead": {"Ferry_Person_Key__c"}, "Contact": {"Ferry_Person_Key__c"}, "Account": {"Ferry_Company_Key__c"},
		"Task": {"Ferry_Conversation_Key__c"}, "Case": {"Ferry_Conversation_Key__c"}}})
	dir := t.TempDir()
	run := func(args ...string) result {
		t.Helper()
		return ferry(t, emu.Env(nil), "run", "--pipeline", pipeline, "--data-dir", dir, "--log-level", "warn")
	}
	mustRun(t, run)
	for _, q := range []string{
		"SELECT Id FROM Contact WHERE Ferry_Person_Key__c != null",
		"SELECT Id FROM Account WHERE Ferry_Company_Key__c != null",
		"SELECT Id FROM Task WHERE Ferry_Conversation_Key__c != null",
	} {
		if len(emu.SOQL(q)) == 0 {
			t.Fatalf("nothing keyed on the configured field: %s", q)
		}
	}
	if n := len(emu.SOQL("SELECT Id FROM Task WHERE Intercom_Conversation_Id__c != null")); n != 0 {
		t.Fatalf("%d Tasks keyed on the example's field name, not the configured one", n)
	}
	runWritesNothing(t, emu, run)
}

#!/bin/sh
# make demo: start both emulators and ferry serve, run the sync twice,
# edit both systems, sync again, show state, then close a conversation in
# Intercom and watch ferry serve complete its Task in Salesforce. Everything
# lives under $1 (default .demo); ferry serve listens on port $2 (18080).
set -eu
dir=${1:-.demo}
port=${2:-18080}
rm -rf "$dir"
mkdir -p "$dir"
ferry=./bin/ferry
pipeline=pipelines/intercom_salesforce.yaml

"$ferry" emulator --dir "$dir/emulator" --scale 2000 --seed 7 \
  --intercom-addr 127.0.0.1:0 --salesforce-addr 127.0.0.1:0 \
  --webhook-url "http://127.0.0.1:$port/webhooks/intercom" >"$dir/emulator.env" 2>"$dir/emulator.log" &
emu=$!
srv=
trap 'kill $emu $srv 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  grep -q SALESFORCE_PRIVATE_KEY_FILE "$dir/emulator/env" 2>/dev/null && break
  sleep 0.1
done
env_file=$(cd "$dir" && pwd)/emulator/env
. "$env_file"
echo "== emulators up: Intercom $INTERCOM_BASE_URL, Salesforce $SALESFORCE_LOGIN_URL (2,000 seeded contacts)"

# ferry serve runs beside the schedule, as in production: it receives the
# emulated Intercom's signed webhooks and syncs the records they name.
# Scheduled runs wait for the data dir while one of its batches holds it.
"$ferry" serve --pipeline "$pipeline" --data-dir "$dir/data" --listen "127.0.0.1:$port" 2>"$dir/serve.log" >/dev/null &
srv=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 $srv 2>/dev/null || { echo "ferry serve did not start (port $port taken? make demo DEMO_PORT=...):" >&2; cat "$dir/serve.log" >&2; exit 1; }
  sleep 0.1
done
echo "== ferry serve up: webhooks at http://127.0.0.1:$port/webhooks/intercom, metrics at /metrics (log: $dir/serve.log)"
run() { "$ferry" run --pipeline "$pipeline" --data-dir "$dir/data" --log-level warn --lock-wait 5m; }

echo
echo "== ferry plan: what a first sync would write (nothing is written)"
"$ferry" plan --pipeline "$pipeline" --data-dir "$dir/data" --log-level warn --lock-wait 5m

echo
echo "== ferry run: first sync"
run

echo
echo "== ferry run again: nothing changed, so nothing is written"
run

echo
echo "== edit a record in Salesforce, then sync: the change reaches Intercom"
tok=$(curl -s -X POST "$SALESFORCE_LOGIN_URL/services/oauth2/token" \
  -d grant_type=client_credentials -d client_id="$SALESFORCE_CLIENT_ID" -d client_secret="$SALESFORCE_CLIENT_SECRET" |
  sed 's/.*"access_token":"\([^"]*\)".*/\1/')
acct=$(curl -s -G "$SALESFORCE_LOGIN_URL/services/data/v62.0/query" -H "Authorization: Bearer $tok" \
  --data-urlencode "q=SELECT Id FROM Account WHERE Intercom_Company_Id__c != null ORDER BY Id LIMIT 1" |
  sed 's/.*"Id":"\([^"]*\)".*/\1/')
curl -s -X PATCH "$SALESFORCE_LOGIN_URL/services/data/v62.0/sobjects/Account/$acct" -H "Authorization: Bearer $tok" \
  -H 'Content-Type: application/json' -d '{"Name":"Renamed in Salesforce"}'
echo "  Salesforce: Account $acct renamed (Salesforce owns company names)"
run

echo
echo "== workflows in Salesforce and Intercom after the sync"
"$ferry" query --data-dir "$dir/data" --lock-wait 5m "SELECT metric, value FROM sync_summary ORDER BY metric"
echo
echo "== customer health (finance): the five least healthy accounts"
"$ferry" query --data-dir "$dir/data" --lock-wait 5m "SELECT account_name, health_score, health_band, conversations_90d, open_conversations, round(avg_csat, 1) AS avg_csat, contract_value FROM account_health ORDER BY health_score, account_name LIMIT 5"
echo
cat <<EOT
   tables: account_health (current) and account_health_history (one row per account per run)
   in $dir/data/warehouse.duckdb, and as Parquet in $dir/data/exports/.
   Query them with ferry query, or with the DuckDB CLI:
     duckdb $dir/data/warehouse.duckdb "SELECT health_band, count(*) FROM account_health GROUP BY ALL"
     duckdb -c "SELECT * FROM '$dir/data/exports/account_health_history/*.parquet' LIMIT 5"
EOT

echo
echo "== ferry status"
"$ferry" status --data-dir "$dir/data" --lock-wait 5m
echo
echo "== close a conversation in Intercom: ferry serve completes its Salesforce Task, no scheduled run"
pending() { curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^ferry_webhook_pending //p'; }
until [ "$(pending)" = 0 ]; do sleep 0.5; done
soql() {
  curl -s -G "$SALESFORCE_LOGIN_URL/services/data/v62.0/query" -H "Authorization: Bearer $tok" --data-urlencode "q=$1"
}
conv=$(soql "SELECT Intercom_Conversation_Id__c FROM Task WHERE Status = 'In Progress' AND Intercom_Conversation_Id__c != null ORDER BY Intercom_Conversation_Id__c LIMIT 1" |
  sed 's/.*"Intercom_Conversation_Id__c":"\([^"]*\)".*/\1/')
admin=$(curl -s "$INTERCOM_BASE_URL/admins" -H "Authorization: Bearer $INTERCOM_ACCESS_TOKEN" | grep -o '"id":"[0-9]*"' | head -1 | cut -d'"' -f4)
echo "  Salesforce: the Task of Intercom conversation $conv is $(soql "SELECT Status FROM Task WHERE Intercom_Conversation_Id__c = '$conv'" | sed 's/.*"Status":"\([^"]*\)".*/\1/')"
start=$(date +%s%N)
curl -sf -o /dev/null -X POST "$INTERCOM_BASE_URL/conversations/$conv/parts" -H "Authorization: Bearer $INTERCOM_ACCESS_TOKEN" \
  -H 'Content-Type: application/json' -d "{\"message_type\":\"close\",\"type\":\"admin\",\"admin_id\":\"$admin\"}"
echo "  Intercom: conversation $conv closed by admin $admin"
status=
for _ in $(seq 1 600); do
  status=$(soql "SELECT Status FROM Task WHERE Intercom_Conversation_Id__c = '$conv'" | sed 's/.*"Status":"\([^"]*\)".*/\1/')
  [ "$status" = Completed ] && break
  sleep 0.1
done
[ "$status" = Completed ] || { echo "the Task is still $status after a minute; ferry serve's log:" >&2; tail -20 "$dir/serve.log" >&2; exit 1; }
echo "  Salesforce: the Task is Completed, $(( ($(date +%s%N) - start) / 1000000 )) ms after the close"
until [ "$(pending)" = 0 ]; do sleep 0.2; done
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^ferry_(webhook_notifications_received_total|webhook_batches_total|writes_total) '

echo
echo "== emulator counters: $INTERCOM_BASE_URL/_emulator/stats and $SALESFORCE_LOGIN_URL/_emulator/stats"
echo "== the warehouse is $dir/data/warehouse.duckdb (models: identity_ambiguous, sf_updates, intercom_updates, ...)"

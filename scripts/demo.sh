#!/bin/sh
# make demo: start both emulators, run the sync twice, edit both systems,
# sync again, and show state. Everything lives under $1 (default .demo).
set -eu
dir=${1:-.demo}
rm -rf "$dir"
mkdir -p "$dir"
ferry=./bin/ferry
pipeline=pipelines/intercom_salesforce.yaml

"$ferry" emulator --dir "$dir/emulator" --scale 2000 --seed 7 \
  --intercom-addr 127.0.0.1:0 --salesforce-addr 127.0.0.1:0 >"$dir/emulator.env" 2>"$dir/emulator.log" &
emu=$!
trap 'kill $emu 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  grep -q SALESFORCE_PRIVATE_KEY_FILE "$dir/emulator/env" 2>/dev/null && break
  sleep 0.1
done
env_file=$(cd "$dir" && pwd)/emulator/env
. "$env_file"
echo "== emulators up: Intercom $INTERCOM_BASE_URL, Salesforce $SALESFORCE_LOGIN_URL (2,000 seeded contacts)"

echo
echo "== ferry plan: what a first sync would write (nothing is written)"
"$ferry" plan --pipeline "$pipeline" --data-dir "$dir/data" --log-level warn

echo
echo "== ferry run: first sync"
"$ferry" run --pipeline "$pipeline" --data-dir "$dir/data" --log-level warn

echo
echo "== ferry run again: nothing changed, so nothing is written"
"$ferry" run --pipeline "$pipeline" --data-dir "$dir/data" --log-level warn

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
"$ferry" run --pipeline "$pipeline" --data-dir "$dir/data" --log-level warn

echo
echo "== workflows in Salesforce and Intercom after the sync"
"$ferry" query --data-dir "$dir/data" "SELECT metric, value FROM sync_summary ORDER BY metric"
echo
echo "== customer health (finance): the five least healthy accounts"
"$ferry" query --data-dir "$dir/data" "SELECT account_name, health_score, health_band, conversations_90d, open_conversations, round(avg_csat, 1) AS avg_csat, contract_value FROM account_health ORDER BY health_score, account_name LIMIT 5"
echo
cat <<EOT
   tables: account_health (current) and account_health_history (one row per account per run)
   in $dir/data/warehouse.duckdb, and as Parquet in $dir/data/exports/.
   Query them with ferry query, or with the DuckDB CLI:
     duckdb $dir/data/warehouse.duckdb "SELECT health_band, count(*) FROM account_health GROUP BY ALL"
     duckdb -c "SELECT * FROM '$dir/data/exports/account_health_history.parquet' LIMIT 5"
EOT

echo
echo "== ferry status"
"$ferry" status --data-dir "$dir/data"
echo
echo "== emulator counters: $INTERCOM_BASE_URL/_emulator/stats and $SALESFORCE_LOGIN_URL/_emulator/stats"
echo "== the warehouse is $dir/data/warehouse.duckdb (models: identity_ambiguous, sf_updates, intercom_updates, ...)"

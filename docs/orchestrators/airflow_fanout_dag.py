"""ferry from Airflow with extraction fanned out over pods: one extraction
worker per group of objects (`ferry extract --hand-off`), all at once, each
handing off what it landed to the shared data dir on S3; then one step
(`ferry run --hand-offs`) merges every hand-off, transforms and loads.

Workers do not take the pipeline's lock, so they run side by side; the
merge takes it. A worker that fails hands nothing off: the merge goes on
with the others, and that worker's objects are extracted again, from
their unchanged watermarks, on the next run.
"""

from datetime import datetime

from airflow import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

DATA_DIR = "s3://acme-data/ferry/intercom-salesforce"
PIPELINE = "/etc/ferry/pipelines/intercom_salesforce.yaml"
IMAGE = "ghcr.io/ferry-sync/ferry:latest"

# The groups: Intercom contacts and conversations are the API-bound ones.
WORKERS = {
    "intercom_contacts": "intercom.contacts",
    "intercom_rest": "intercom.companies,intercom.conversations,intercom.admins,intercom.tags",
    "salesforce": "salesforce.Lead,salesforce.Contact,salesforce.Account,salesforce.User,"
    "salesforce.Opportunity,salesforce.OpportunityContactRole,salesforce.Case,salesforce.Task",
}

with DAG(
    dag_id="ferry_sync_fanout",
    schedule="*/15 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
) as dag:
    extract_workers = [
        KubernetesPodOperator(
            task_id=f"extract_{name}",
            name=f"ferry-extract-{name.replace('_', '-')}",
            image=IMAGE,
            arguments=["extract", "--hand-off", "--object", objects,
                       "--pipeline", PIPELINE, "--data-dir", DATA_DIR, "--cache-dir", "/tmp/ferry"],
            get_logs=True,
        )
        for name, objects in WORKERS.items()
    ]
    merge = KubernetesPodOperator(
        task_id="merge_transform_load",
        name="ferry-merge",
        image=IMAGE,
        arguments=["run", "--hand-offs", "--pipeline", PIPELINE, "--data-dir", DATA_DIR,
                   "--cache-dir", "/tmp/ferry", "--idle-exit-code", "99"],
        skip_on_exit_code=99,
        trigger_rule="all_done",
        get_logs=True,
    )
    extract_workers >> merge

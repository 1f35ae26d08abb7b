"""ferry from Airflow: the same sync as a BashOperator (ferry installed on the
worker) and as a KubernetesPodOperator (ferry's image). A run with nothing to
do exits 99 (--idle-exit-code 99), which both operators take as skipped; 1
fails the task (nothing was committed: the next run retries), 3 means some
records were rejected (listed under the data dir, retried next run).

OPENLINEAGE_PARENT_ID ties ferry's OpenLineage events to the task's run.
"""

import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

PARENT_ID = "{{ macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance) }}"

with DAG(
    dag_id="ferry_sync",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ferry"],
) as dag:
    sync_on_worker = BashOperator(
        task_id="ferry_run",
        bash_command=(
            "ferry run --pipeline /opt/ferry/pipelines/intercom_salesforce.yaml "
            "--data-dir /var/lib/ferry --idle-exit-code 99"
        ),
        skip_on_exit_code=99,
        env={"OPENLINEAGE_URL": "http://marquez:5000", "OPENLINEAGE_PARENT_ID": PARENT_ID},
        append_env=True,
    )

    sync_in_pod = KubernetesPodOperator(
        task_id="ferry_run_pod",
        name="ferry-run",
        image="ghcr.io/ferry-sync/ferry:latest",
        arguments=[
            "run",
            "--pipeline", "/etc/ferry/pipelines/intercom_salesforce.yaml",
            "--data-dir", "/var/lib/ferry",
            "--idle-exit-code", "99",
        ],
        skip_on_exit_code=99,
        env_vars={"OPENLINEAGE_URL": "http://marquez:5000", "OPENLINEAGE_PARENT_ID": PARENT_ID},
        get_logs=True,
    )

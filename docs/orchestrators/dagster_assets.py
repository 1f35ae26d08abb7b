"""ferry as Dagster assets, through Dagster Pipes: Dagster starts ferry, and
ferry reports a materialization per object it extracts (intercom/<object>,
salesforce/<Object>) and per model it builds (warehouse/<model>), and an
asset check per model test. A failing test on a model a sync reads stops
ferry before any write, and its check fails at ERROR severity.
"""

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Definitions,
    PipesSubprocessClient,
    multi_asset,
)

PIPELINE = "/opt/ferry/pipelines/intercom_salesforce.yaml"
DATA_DIR = "/var/lib/ferry"

EXTRACTED = [
    ("intercom", "contacts"),
    ("intercom", "companies"),
    ("intercom", "conversations"),
    ("intercom", "admins"),
    ("intercom", "tags"),
    ("salesforce", "Lead"),
    ("salesforce", "Contact"),
    ("salesforce", "Account"),
    ("salesforce", "User"),
    ("salesforce", "Opportunity"),
    ("salesforce", "OpportunityContactRole"),
    ("salesforce", "Case"),
    ("salesforce", "Task"),
]
MODELS = ["account_health", "int_people_identity"]
CHECKS = {
    "account_health": [
        "unique_account_id",
        "not_null_account_id_health_score_health_band",
        "accepted_values_health_band_green_yellow_red",
        "relationships_account_id_stg_salesforce__accounts_sf_id",
        "health_scores_in_range",
    ],
    "int_people_identity": ["unique_intercom_id"],
}


@multi_asset(
    specs=[AssetSpec(AssetKey([system, obj]), skippable=True) for system, obj in EXTRACTED]
    + [AssetSpec(AssetKey(["warehouse", model]), skippable=True) for model in MODELS],
    check_specs=[
        AssetCheckSpec(name, asset=AssetKey(["warehouse", model]), blocking=True)
        for model, names in CHECKS.items()
        for name in names
    ],
    can_subset=True,
)
def ferry_sync(context: AssetExecutionContext, pipes_subprocess_client: PipesSubprocessClient):
    return pipes_subprocess_client.run(
        command=["ferry", "run", "--pipeline", PIPELINE, "--data-dir", DATA_DIR],
        context=context,
    ).get_results()


defs = Definitions(
    assets=[ferry_sync],
    resources={"pipes_subprocess_client": PipesSubprocessClient()},
)

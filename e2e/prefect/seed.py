"""Seeds a Prefect 3 server the way the old (Python) chap-scheduler left it, for the
`import-prefect` test: the `chap-dhis2-credentials` block type, two credentials blocks, the
`dhis2-chap-prediction` flow and its deployment with parameter defaults and three schedules.

Run with the Prefect venv's python and PREFECT_API_URL pointing at the server:

    python seed.py '{"blocks": [{"name": ..., "base_url": ..., "username": ..., "password": ...}, ...]}'

Prints {"blocks": {name: id}, "flow_id": ..., "deployment_id": ..., "schedules": [id, ...]} on stdout.
"""

import asyncio
import json
import sys

from pydantic import Field, SecretStr
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule


class Dhis2Credentials(Block):
    """The old service's block (reference §5), as its worker registered it."""

    _block_type_name = "DHIS2 Credentials (chap-scheduler)"
    _block_type_slug = "chap-dhis2-credentials"
    _description = "Credentials for connecting to a DHIS2 instance to fetch analytics."

    base_url: str = Field(..., description="DHIS2 instance base URL, e.g. https://dhis.example.org")
    username: str = Field(..., description="DHIS2 username.")
    password: SecretStr = Field(..., description="DHIS2 password.")


def ref(block_id):
    return {"$ref": {"block_document_id": str(block_id)}}


async def main(spec):
    await Dhis2Credentials.aregister_type_and_schema()
    blocks = {}
    for b in spec["blocks"]:
        block = Dhis2Credentials(base_url=b["base_url"], username=b["username"], password=b["password"])
        blocks[b["name"]] = await block.asave(b["name"], overwrite=True)
    first, second = list(blocks.values())[:2]
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("dhis2-chap-prediction")
        schedules = [
            DeploymentScheduleCreate(
                schedule=CronSchedule(cron="0 6 * * 1", timezone="Africa/Kampala"), active=True
            ),
            DeploymentScheduleCreate(
                schedule=IntervalSchedule(
                    interval=21600, anchor_date="2026-01-01T00:30:00Z", timezone="Europe/Oslo"
                ),
                active=True,
            ),
            DeploymentScheduleCreate(
                schedule=CronSchedule(cron="30 2 1 * *", timezone="UTC"),
                active=False,
                parameters={
                    "credentials": ref(second),
                    "end_mode": "offset",
                    "end_period_offset": 1,
                },
            ),
        ]
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name="dhis2-chap-prediction",
            parameters={
                "credentials": ref(first),
                "end_mode": "calculated",
                "end_date": None,
                "end_period_offset": None,
                "prediction_setup_id": None,
            },
            schedules=schedules,
            entrypoint="chap_scheduler/flows/dhis2_chap_prediction.py:dhis2_chap_prediction",
        )
        deployment = await client.read_deployment(deployment_id)
    print(
        json.dumps(
            {
                "blocks": {name: str(i) for name, i in blocks.items()},
                "flow_id": str(flow_id),
                "deployment_id": str(deployment_id),
                "schedules": [str(s.id) for s in deployment.schedules],
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))

"""moto server for MAD's local stack (run with the project's .venv python).

It is moto_server with two changes to Secrets Manager (moto 5.2.5), so that
`devstack rotate-keys` can drive a rotation exactly like AWS does.

1. When RotateSecret names a
RotationLambdaARN, Secrets Manager puts a new version id (the
ClientRequestToken) on the secret with the AWSPENDING label and no value,
then invokes the rotation function with createSecret, setSecret, testSecret
and finishSecret. moto can only invoke functions of its own Lambda backend
(which needs Docker) and, without a function, promotes the empty version to
AWSCURRENT at once. Here RotateSecret with a Lambda ARN stops after the
first half, as AWS does before its first invoke; devstack then invokes the
real rotation function under the Lambda emulator.

2. UpdateSecretVersionStage moving AWSCURRENT (a rotation's finishSecret)
moves the label but not moto's default version, so GetSecretValue without
a stage kept answering the old value; here the default follows AWSCURRENT.
"""

import sys

from moto.secretsmanager import models
from moto.server import main

_rotate_secret = models.SecretsManagerBackend.rotate_secret


def rotate_secret(self, secret_id, client_request_token=None, rotation_lambda_arn=None,
                  rotation_rules=None, rotate_immediately=True):
    if not rotation_lambda_arn or not rotate_immediately or not self._is_valid_identifier(secret_id):
        return _rotate_secret(self, secret_id, client_request_token, rotation_lambda_arn,
                              rotation_rules, rotate_immediately)
    secret = self.secrets[secret_id]
    before = {vid: list(v["version_stages"]) for vid, v in secret.versions.items()}
    current = secret.default_version_id
    _rotate_secret(self, secret_id, client_request_token, None, rotation_rules, rotate_immediately)
    pending = secret.default_version_id
    # Undo moto's promotion: the old version stays AWSCURRENT, the new one
    # is AWSPENDING without a value until the function's createSecret.
    for vid, stages in before.items():
        if vid in secret.versions:
            secret.versions[vid]["version_stages"] = [s for s in stages if s != "AWSPENDING"]
    secret.versions[pending]["version_stages"] = ["AWSPENDING"]
    secret.default_version_id = current
    secret.rotation_lambda_arn = rotation_lambda_arn
    return secret.to_short_dict(version_id=pending)


models.SecretsManagerBackend.rotate_secret = rotate_secret

_update_secret_version_stage = models.SecretsManagerBackend.update_secret_version_stage


def update_secret_version_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
    out = _update_secret_version_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
    if version_stage == "AWSCURRENT" and move_to_version_id:
        self.secrets[secret_id].default_version_id = move_to_version_id
    return out


models.SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage

if __name__ == "__main__":
    sys.exit(main())

// A Node.js rotation handler in Lambda's programming model (AWS SDK for JavaScript v3, async
// handler): rotates a JSON secret's "token" member (no database). Nothing secret is logged.
const {
  SecretsManagerClient, DescribeSecretCommand, GetSecretValueCommand,
  GetRandomPasswordCommand, PutSecretValueCommand, UpdateSecretVersionStageCommand,
} = require("@aws-sdk/client-secrets-manager");

exports.handler = async (event, context) => {
  const { SecretId: arn, ClientRequestToken: token, Step: step } = event;
  if (context.getRemainingTimeInMillis() <= 0) throw new Error("no time left");
  const sm = new SecretsManagerClient({ endpoint: process.env.SECRETS_MANAGER_ENDPOINT });
  const meta = await sm.send(new DescribeSecretCommand({ SecretId: arn }));
  const stages = meta.VersionIdsToStages[token];
  if (!stages) throw new Error(`version ${token} is not a version of ${arn}`);
  if (stages.includes("AWSCURRENT")) return;
  if (step === "createSecret") {
    const current = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString);
    const { RandomPassword } = await sm.send(new GetRandomPasswordCommand({ PasswordLength: 24, ExcludePunctuation: true }));
    current.token = RandomPassword;
    await sm.send(new PutSecretValueCommand({
      SecretId: arn, ClientRequestToken: token, SecretString: JSON.stringify(current), VersionStages: ["AWSPENDING"],
    }));
  } else if (step === "finishSecret") {
    const current = Object.entries(meta.VersionIdsToStages).find(([, s]) => s.includes("AWSCURRENT"))[0];
    await sm.send(new UpdateSecretVersionStageCommand({
      SecretId: arn, VersionStage: "AWSCURRENT", MoveToVersionId: token, RemoveFromVersionId: current,
    }));
  }
  console.log(`${step} done`);
};

// Fails its first step, as a handler whose service refuses it would.
exports.raises = async () => {
  console.warn("about to fail");
  throw new RangeError("the token service refused the new token");
};

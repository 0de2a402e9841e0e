#!/usr/bin/env python3
"""Write the seed corpora (fuzz/seeds/<target>/) from real requests: botocore-signed requests
(header and presigned), the policies of seed 003 and the tests, rotation schedules from AWS's
docs, ARNs, seed 000's references, and one request per common operation for `api`.

    .venv/bin/python fuzz/make-seeds.py     (needs the venv scripts/test makes: botocore)
"""
import hashlib
import json
import os

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "..", "shared", "aws-models")


def put(target, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def signed(method, url, body, headers, service, presign=False, token=None):
    creds = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", token)
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    (SigV4QueryAuth(creds, service, "us-east-1", 60) if presign else SigV4Auth(creds, service, "us-east-1")).add_auth(req)
    p = req.prepare()
    path = p.url.split("127.0.0.1:8790", 1)[1] or "/"
    lines = [f"{method} {path}"] + [f"{k}: {v}" for k, v in p.headers.items()] + ["Host: 127.0.0.1:8790"]
    return "\n".join(lines).encode() + b"\n\n" + (p.body or b"")


# sigv4
put("sigv4", signed("POST", "http://127.0.0.1:8790/", b'{"SecretId":"MySecret"}',
                    {"X-Amz-Target": "secretsmanager.GetSecretValue", "Content-Type": "application/x-amz-json-1.1"},
                    "secretsmanager"))
put("sigv4", signed("POST", "http://127.0.0.1:8790/", b"Action=GetCallerIdentity&Version=2011-06-15",
                    {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, "sts", token="SR1token"))
put("sigv4", signed("GET", "http://127.0.0.1:8790/?Action=GetCallerIdentity&Version=2011-06-15", b"", {}, "sts",
                    presign=True))
put("sigv4", signed("GET", "http://127.0.0.1:8790/?Action=ListUsers&Version=2010-05-08&PathPrefix=", b"", {}, "iam",
                    presign=True, token="SR1session/token+x="))

# wire: 0 query form, 1 CBOR, 2/3 JSON inputs
put("wire", b"\x00Action=CreateUser&UserName=dev%20one&Version=2010-05-08&Tags.member.1.Key=team")
put("wire", b"\x00Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s")
put("wire", b"\x01\xbfiAlarmNamesbhi\xff")  # {"AlarmName": "hi"} (indefinite map)
put("wire", b"\x01\xa1kMetricNamesbhi")
put("wire", b'\x02{"Name":"MySecret","SecretString":"{\\"username\\":\\"user\\"}","Tags":[{"Key":"k","Value":"v"}]}')
put("wire", b'\x02{"SecretId":"MySecret","VersionStage":"AWSPREVIOUS"}')
put("wire", b'\x03{"RotationRules":{"ScheduleExpression":"rate(10 days)"},"SecretId":"s"}')
put("wire", b'\x03{"Filters":[{"Key":"name","Values":["prod"]}],"MaxResults":10}')

# policy: DOCUMENT\0ACTION\0RESOURCE\0KEY=VALUE...
seed003 = open(os.path.join(HERE, "..", "..", "shared", "seeds", "003_95b5c8446a8bc570.txt")).read()
docs = []
start = 0
while True:
    i = seed003.find('{\n  "Version"', start)
    if i < 0:
        break
    depth, j = 0, i
    while j < len(seed003):
        depth += seed003[j] == "{"
        depth -= seed003[j] == "}"
        j += 1
        if depth == 0:
            break
    docs.append(seed003[i:j])
    start = j
docs += [
    '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},'
    '"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x"}}}}',
    '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"kms:*","NotResource":"*",'
    '"Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":["a*"]},"Bool":{"aws:SecureTransport":"false"}}}]}',
    '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"secretsmanager:Get*",'
    '"Resource":"arn:aws:secretsmanager:*:*:secret:${aws:username}-*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}',
]
for d in docs:
    put("policy", d + "\0secretsmanager:GetSecretValue\0arn:aws:secretsmanager:us-east-1:123456789012:secret:auth-service-prod-config-AbCdEf\0aws:username=dev\0aws:sourceip=10.1.2.3")
    put("policy", d + "\0sts:AssumeRole\0arn:aws:iam::123456789012:role/app\0sts:externalid=x")

# schedule: DAYS\nDURATION\nEXPRESSION
for s in ["30\n\n", "\n3h\nrate(4 hours)", "\n\nrate(10 days)", "\n2h\ncron(0 16 1,15 * ? *)",
          "\n\ncron(0 8 ? * MON-FRI *)", "\n\ncron(0 0 L * ? *)", "\n\ncron(0 10 ? * 6#3 *)", "\n\ncron(0 12 15W * ? 2030)"]:
    put("schedule", s)

# names
for s in ["MySecret", "prod/db/password", "arn:aws:secretsmanager:us-east-1:123456789012:secret:MySecret-AbCdEf",
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:auth-service-prod-config",
          "arn:aws:secretsmanager:eu-west-1:999999999999:secret:x-123456", "/app/dev/db:3", "/app/dev/db:label1",
          "aws:reserved", "arn:aws:ssm:us-east-1:123456789012:parameter/app/dev/db", "alias/aws/secretsmanager",
          "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"]:
    put("names", s)

# references
put("references", "SLACK_BOT_TOKEN={{resolve:secretsmanager:slack-credentials:SecretString:SLACK_BOT_TOKEN}}\n"
                  "X={{resolve:ssm-secure:/aws/reference/secretsmanager/slack-credentials}}\n")
put("references", "a: {{resolve:ssm:/app/dev/host:3}} b: {{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:"
                  "123456789012:secret:db-AbCdEf:SecretString:password:AWSPREVIOUS}} c: {{resolve:ssm:/x")

# value_from: ECS valueFrom strings (seed 003's, complete and partial ARNs, SSM, the convenience form)
for v in ["arn:aws:secretsmanager:us-east-1:123456789012:secret:auth-service-prod-config:MONGODB_URI::",
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:auth-service-prod-config-AbCdEf",
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:db:password:AWSPREVIOUS:",
          "arn:aws:ssm:us-east-1:123456789012:parameter/app/prod/db-host",
          "/app/prod/db-password", "db-password", "slack-credentials:SLACK_BOT_TOKEN",
          "slack-credentials:SLACK_BOT_TOKEN:AWSCURRENT:",
          "name:key::01234567-89ab-cdef-0123-456789abcdef"]:
    put("value_from", v)

# api: byte 0 = service/protocol, byte 1 = operation (sorted model order), then the body
order = [("secretsmanager", "json"), ("ssm", "json"), ("kms", "json"), ("cloudtrail", "json"), ("sts", "query"),
         ("iam", "query"), ("cloudwatch", "cbor"), ("cloudwatch", "json10"), ("cloudwatch", "query")]


def api(service, protocol, op, body):
    ops = sorted(json.load(open(os.path.join(MODELS, service + ".json")))["operations"])
    put("api", bytes([order.index((service, protocol)), ops.index(op)]) + (body.encode() if isinstance(body, str) else body))


api("secretsmanager", "json", "CreateSecret", '{"Name":"fuzz","SecretString":"v"}')
api("secretsmanager", "json", "GetSecretValue", '{"SecretId":"fuzz"}')
api("secretsmanager", "json", "PutSecretValue", '{"SecretId":"fuzz","SecretString":"w","VersionStages":["X"]}')
api("secretsmanager", "json", "ListSecrets", '{"Filters":[{"Key":"all","Values":["f"]}]}')
api("secretsmanager", "json", "RotateSecret", '{"SecretId":"fuzz","RotationRules":{"ScheduleExpression":"cron(0 8 ? * MON *)"}}')
api("secretsmanager", "json", "PutResourcePolicy", json.dumps({"SecretId": "fuzz", "ResourcePolicy": docs[-1]}))
api("ssm", "json", "PutParameter", '{"Name":"/fuzz/a","Value":"v","Type":"SecureString"}')
api("ssm", "json", "GetParametersByPath", '{"Path":"/fuzz","Recursive":true,"WithDecryption":true}')
api("kms", "json", "CreateKey", '{"Description":"k","Tags":[{"TagKey":"a","TagValue":"b"}]}')
api("kms", "json", "Encrypt", '{"KeyId":"alias/aws/secretsmanager","Plaintext":"aGk="}')
api("cloudtrail", "json", "LookupEvents", '{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"CreateSecret"}]}')
api("sts", "query", "AssumeRole", "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s")
api("iam", "query", "CreateUser", "UserName=fuzz")
api("iam", "query", "PutUserPolicy", "UserName=fuzz&PolicyName=p&PolicyDocument=" + docs[-1].replace("&", "%26"))
api("cloudwatch", "query", "PutMetricAlarm", "AlarmName=a&MetricName=m&Namespace=AWS%2FSecretsManager&Statistic=Sum&Period=60&EvaluationPeriods=1&Threshold=1&ComparisonOperator=GreaterThanThreshold")
api("cloudwatch", "json10", "DescribeAlarms", "{}")
api("cloudwatch", "cbor", "DescribeAlarms", b"\xa0")
print("seeds written under", os.path.join(HERE, "seeds"))

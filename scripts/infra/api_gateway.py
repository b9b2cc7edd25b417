"""The gateway responses merged into Chalice's ``RestAPI``: what API Gateway answers itself, in the Bailian envelope."""

from __future__ import annotations

from typing import Final

from scripts.infra.cfn import Json

# What API Gateway answers itself, before a request reaches a function (no such route, a bad or missing SigV4
# signature, throttling, a body over its limit, a function that failed or timed out): in the Bailian envelope, the
# family of every path but "/", with the status API Gateway gives each. (Sift's functions answer everything else.)
GATEWAY_RESPONSES: Final = {
    # API Gateway gives an unknown route and an unsigned request to an IAM route the same answer; it cannot tell.
    "MISSING_AUTHENTICATION_TOKEN": ("403", "MissingAuthenticationToken"),
    "ACCESS_DENIED": ("403", "Forbidden.RAM"),
    "INVALID_SIGNATURE": ("403", "InvalidSignature"),
    "EXPIRED_TOKEN": ("403", "ExpiredToken"),
    "THROTTLED": ("429", "Throttling"),
    "REQUEST_TOO_LARGE": ("413", "Index.InvalidParameter"),
    "INTEGRATION_TIMEOUT": ("504", "ServiceUnavailable"),
    "DEFAULT_5XX": ("502", "InternalError"),
}


def gateway_responses() -> Json:
    """``GATEWAY_RESPONSES`` as ``x-amazon-apigateway-gateway-responses`` of Chalice's ``RestAPI`` definition (merged
    into it: separate GatewayResponse resources would drift from an API whose body CloudFormation owns)."""
    return {
        "RestAPI": {
            "Properties": {
                "DefinitionBody": {
                    "x-amazon-apigateway-gateway-responses": {
                        kind: {
                            "statusCode": status,
                            "responseTemplates": {
                                "application/json": (
                                    f'{{"Code": "{code}", "Message": $context.error.messageString, '
                                    f'"RequestId": "$context.requestId", "Status": "{status}", "Success": false}}'
                                )
                            },
                        }
                        for kind, (status, code) in GATEWAY_RESPONSES.items()
                    }
                }
            }
        }
    }

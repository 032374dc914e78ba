"""A clean function: greets the caller, echoing what it was sent."""


def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    return {"greeting": "hello " + str(name), "request_id": context.aws_request_id}

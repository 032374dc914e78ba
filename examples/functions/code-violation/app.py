"""Detects a file's type with the `file` command: the classic command-execution anti-pattern."""
import subprocess


def handler(event, context):
    command = "file " + event.get("path", "/etc/hostname")
    filetype = subprocess.check_output(command,shell=True).decode("utf-8")
    return {"filetype": filetype}

# Shell handler for examples/runtimes/shell/bootstrap: echoes the event inside a JSON object.
handler () {
  EVENT_DATA=$1
  printf '{"echo":%s}' "$EVENT_DATA"
}

"""The kernel's TCP echo server for the integration tests: echo_server.py HOST PORT.

Every byte back; the peer's FIN answered with a FIN. Prints "listening" once it listens.
Used by tests/integration/load.sh, ipv6.sh and tests/multicore/multicore.sh."""
import asyncio
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        return False  # close our side too


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, sys.argv[1], int(sys.argv[2]), backlog=1024,
                                      reuse_address=True)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())

"""``tests.communicator`` as DCRF's tests use it (not shipped in its sdist).

``connected_communicator(app)`` connects a ``Communicator`` and always disconnects it. A receive
that times out leaves the application running (channels' communicator cancels it), so a test
may wait for nothing and go on; ``receive_many_json_from`` reads until a timeout.
"""

import contextlib

from asgiref.timeout import timeout as async_timeout
from channels.testing import WebsocketCommunicator


class Communicator(WebsocketCommunicator):
    async def receive_output(self, timeout=1):
        if self.future.done():
            self.future.result()  # the application's exception, if it raised
        try:
            async with async_timeout(timeout):
                return await self.output_queue.get()
        except TimeoutError:
            if self.future.done():
                self.future.result()
            raise

    async def receive_many_json_from(self, timeout=1):
        frames = []
        while True:
            try:
                frames.append(await self.receive_json_from(timeout=timeout))
            except TimeoutError:
                return frames


@contextlib.asynccontextmanager
async def connected_communicator(app, path="/testws/"):
    communicator = Communicator(app, path)
    connected, _ = await communicator.connect()
    try:
        assert connected, "the consumer refused the connection"
        yield communicator
    finally:
        await communicator.disconnect()

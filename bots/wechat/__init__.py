"""WeChat adapter: Official Account messaging and WeChat Pay v2 (wechatpy utilities, aiohttp transport)."""
